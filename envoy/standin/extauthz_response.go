package standin

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// onResult maps a Check outcome to Envoy's behaviour (PROTOCOLS.md A.4):
// status.code 0 is OK, any other code is a denial, and an RPC error,
// timeout or unreachable cluster is an error (status_on_error unless
// failure_mode_allow).
func (f *extAuthzFilter) onResult(req *request, resp *authv3.CheckResponse, callErr error, started time.Time) *localReply {
	if callErr != nil {
		f.s.p.log.Debug("ext_authz check failed", "stream", f.s.id, "err", callErr)
		return f.onError()
	}
	if resp.GetErrorResponse() != nil && f.s.p.atLeast(37) {
		return f.onError()
	}
	ok := resp.GetStatus().GetCode() == 0
	md := resp.GetDynamicMetadata()
	if ok && resp.GetOkResponse().GetDynamicMetadata() != nil {
		md = resp.GetOkResponse().GetDynamicMetadata() // the deprecated field wins when set
	}
	if len(md.GetFields()) > 0 {
		md = cloneStruct(md)
		if ok {
			md.Fields["ext_authz_duration"] = structpb.NewNumberValue(float64(time.Since(started).Milliseconds()))
		}
		f.s.setMetadata(extAuthzNamespace, md)
	}
	if !ok {
		return f.denied(resp.GetDeniedResponse())
	}
	return f.allowed(req, resp.GetOkResponse())
}

func (f *extAuthzFilter) onError() *localReply {
	if f.cfg.failureModeAllow {
		return nil
	}
	return newLocalReply(f.cfg.statusOnError, "", "ext_authz_error")
}

// denied is the local reply for a denial: denied_response status (default
// 403), its body, and its headers removed-then-added so duplicates work.
func (f *extAuthzFilter) denied(d *authv3.DeniedHttpResponse) *localReply {
	status := http.StatusForbidden
	if c := int(d.GetStatus().GetCode()); c > 0 {
		status = c
	}
	var headers []*corev3.HeaderValueOption
	for _, o := range d.GetHeaders() {
		// Before the 1.37 refactor only entries without append=true reached
		// a denied reply.
		if !f.s.p.atLeast(37) && o.GetAppend().GetValue() {
			continue
		}
		headers = append(headers, o)
	}
	if f.cfg.validateMutations && !validOptions(headers) {
		return newLocalReply(http.StatusInternalServerError, "", "ext_authz_invalid")
	}
	lr := newLocalReply(status, d.GetBody(), "ext_authz_denied")
	lr.mutate = func(h *headerMap) {
		for _, o := range headers {
			h.remove(strings.ToLower(o.GetHeader().GetKey()))
		}
		for _, o := range headers {
			k, v := strings.ToLower(o.GetHeader().GetKey()), o.GetHeader().GetValue()
			if validHeaderName(k) && validHeaderValue(v) {
				h.add(k, v)
			}
		}
	}
	return lr
}

// allowed applies an OkHttpResponse to the request going upstream.
func (f *extAuthzFilter) allowed(req *request, ok *authv3.OkHttpResponse) *localReply {
	if ok == nil {
		return nil
	}
	if f.cfg.validateMutations && !validOkResponse(ok) {
		return newLocalReply(http.StatusInternalServerError, "", "ext_authz_invalid")
	}
	ops := make([]hdrOp, len(ok.GetHeaders()))
	for i, o := range ok.GetHeaders() {
		ops[i] = f.requestHeaderOp(o)
		if ops[i] == opInvalid && f.cfg.validateMutations {
			return newLocalReply(http.StatusInternalServerError, "", "ext_authz_invalid")
		}
	}
	// ext_authz.cc applies sets, then adds, then appends, then removals.
	for _, phase := range [][]hdrOp{{opSet, opSetIfExists}, {opAdd, opAddIfAbsent}, {opAppend}} {
		for i, o := range ok.GetHeaders() {
			if containsOp(phase, ops[i]) {
				applyHeaderOp(req.headers, ops[i], strings.ToLower(o.GetHeader().GetKey()), o.GetHeader().GetValue())
			}
		}
	}
	for _, k := range ok.GetHeadersToRemove() {
		if k = strings.ToLower(k); removableHeader(k) {
			req.headers.remove(k)
		}
	}
	f.responseHeaders = ok.GetResponseHeadersToAdd()
	if len(ok.GetQueryParametersToSet()) > 0 || len(ok.GetQueryParametersToRemove()) > 0 {
		req.headers.set(":path", mutateQuery(req.headers.value(":path"), ok))
	}
	return nil
}

type hdrOp int

const (
	opInvalid hdrOp = iota
	opSet
	opSetIfExists
	opAdd
	opAddIfAbsent
	opAppend
)

func containsOp(ops []hdrOp, op hdrOp) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// requestHeaderOp is how an OkHttpResponse.headers entry mutates the
// upstream request. Before 1.38 only the deprecated `append` is read
// (true: comma-append to an existing header, else overwrite); from 1.38
// `append_action` is honoured when `append` is unset (envoy#42857).
func (f *extAuthzFilter) requestHeaderOp(o *corev3.HeaderValueOption) hdrOp {
	if !f.s.p.atLeast(38) || o.GetAppend() != nil {
		if o.GetAppend().GetValue() {
			return opAppend
		}
		return opSet
	}
	return appendActionOp(o.GetAppendAction())
}

// responseHeaderOp is how response_headers_to_add entries apply: `append`
// when set (true: add, false: set), else append_action.
func responseHeaderOp(o *corev3.HeaderValueOption) hdrOp {
	if o.GetAppend() != nil {
		if o.GetAppend().GetValue() {
			return opAdd
		}
		return opSet
	}
	return appendActionOp(o.GetAppendAction())
}

func appendActionOp(a corev3.HeaderValueOption_HeaderAppendAction) hdrOp {
	switch a {
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		return opAdd
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		return opAddIfAbsent
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
		return opSet
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		return opSetIfExists
	}
	return opInvalid
}

func applyHeaderOp(h *headerMap, op hdrOp, k, v string) {
	if !validHeaderName(k) || !validHeaderValue(v) {
		return // only reachable without validate_mutations; Envoy cannot carry it either
	}
	switch op {
	case opSet:
		h.set(k, v)
	case opSetIfExists:
		if h.has(k) {
			h.set(k, v)
		}
	case opAdd:
		h.add(k, v)
	case opAddIfAbsent:
		if !h.has(k) {
			h.add(k, v)
		}
	case opAppend:
		h.appendValue(k, v)
	}
}

func validOptions(opts []*corev3.HeaderValueOption) bool {
	for _, o := range opts {
		if !validHeaderName(strings.ToLower(o.GetHeader().GetKey())) || !validHeaderValue(o.GetHeader().GetValue()) {
			return false
		}
	}
	return true
}

// validOkResponse is validate_mutations: every header and query parameter
// mutation must be well formed, or the request fails with 500.
func validOkResponse(ok *authv3.OkHttpResponse) bool {
	if !validOptions(ok.GetHeaders()) || !validOptions(ok.GetResponseHeadersToAdd()) {
		return false
	}
	for _, k := range ok.GetHeadersToRemove() {
		if !validHeaderName(strings.ToLower(k)) {
			return false
		}
	}
	for _, q := range ok.GetQueryParametersToSet() {
		if q.GetKey() == "" || !validHeaderValue(q.GetKey()) || !validHeaderValue(q.GetValue()) {
			return false
		}
	}
	return true
}

// mutateQuery applies query_parameters_to_set (overwrite) and
// query_parameters_to_remove (exact key) and regenerates :path.
func mutateQuery(path string, ok *authv3.OkHttpResponse) string {
	base, rawQuery, _ := strings.Cut(path, "?")
	type kv struct{ k, v string }
	var params []kv
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		params = append(params, kv{k, v})
	}
	drop := func(key string) {
		out := params[:0]
		for _, p := range params {
			if p.k != key {
				out = append(out, p)
			}
		}
		params = out
	}
	for _, q := range ok.GetQueryParametersToSet() {
		drop(q.GetKey())
		params = append(params, kv{q.GetKey(), url.QueryEscape(q.GetValue())})
	}
	for _, k := range ok.GetQueryParametersToRemove() {
		drop(k)
	}
	if len(params) == 0 {
		return base
	}
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.k + "=" + p.v
	}
	return base + "?" + strings.Join(parts, "&")
}
