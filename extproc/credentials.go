package extproc

import (
	"context"
	"errors"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/credinject"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/outguard"
	"github.com/actiongate/actiongate/internal/redact"
)

// Credentials builds the upstream credentials of one call
// (*credinject.Injector).
type Credentials interface {
	ForCall(ctx context.Context, c credinject.Call) (credinject.Injection, error)
}

// reasonNotConnected: the server needs the user's account at a provider
// the user has not connected.
const reasonNotConnected = "credential_not_connected"

// injectCredentials adds the call's credentials to mut. It returns false
// with the answer to send instead when the request must not go on: the
// user has not connected a provider the server needs (an MCP error with
// the connect link), or no credential could be built (fail closed: a
// request without its credential is not forwarded).
func injectCredentials(e *env, st *state, mut *extprocv3.HeaderMutation) (*extprocv3.ProcessingResponse, bool) {
	if e.credentials == nil || st.x.Server == "" {
		return nil, true
	}
	c := credinject.Call{DecisionID: st.x.DecisionID, Server: st.x.Server, Tool: st.x.Tool, User: st.x.User,
		Agent: st.x.Agent, Chain: st.x.Chain, Tenant: st.x.Tenant, Task: st.x.Task}
	if e.registry != nil {
		if reg := e.registry(); reg != nil {
			if srv, ok := reg.Server(st.x.Server); ok {
				c.Audience = srv.Upstream
				if srv.Credential != nil {
					c.Provider = srv.Credential.Provider
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inj, err := e.credentials.ForCall(ctx, c)
	var nc *broker.NotConnectedError
	switch {
	case errors.As(err, &nc):
		e.problem(reasonNotConnected)
		e.log.Info("call refused: the user has not connected the provider this server needs",
			"decision_id", st.x.DecisionID, "server", st.x.Server, "provider", nc.Provider)
		msg := "This tool acts with your " + nc.Provider + " account, which is not connected to the gateway"
		detail := "connect your " + nc.Provider + " account, then retry"
		if nc.ConnectURL != "" {
			detail = "connect your " + nc.Provider + " account, then retry: " + nc.ConnectURL
		}
		st.x.notes.Blocked = reasonNotConnected
		finish(e, st, outcome{})
		body := mcp.ErrorBody(st.x.RPCID, mcp.CodePolicyDenied, msg,
			&mcp.ErrorData{Reason: reasonNotConnected, DecisionID: st.x.DecisionID, Detail: detail})
		return immediateJSON(200, body, "actiongate_"+reasonNotConnected), false
	case err != nil:
		e.problem("credential_unavailable")
		e.log.Error("no upstream credential; refusing to forward the call", "decision_id", st.x.DecisionID,
			"server", st.x.Server, "err", err)
		st.x.notes.Blocked = "credential_unavailable"
		finish(e, st, outcome{})
		return internalError(st.x), false
	}
	for _, h := range inj.Headers {
		// Overwrite, never append: a header of the same name the agent
		// sent must not travel next to ours.
		mut.SetHeaders = append(mut.SetHeaders, &corev3.HeaderValueOption{
			Header: &corev3.HeaderValue{Key: h.Name, RawValue: []byte(h.Value)},
			Append: wrapperspb.Bool(false)})
	}
	st.x.Creds = inj.Secrets
	return nil, true
}

// stripCredentialHeaders removes every response header that carries a
// credential injected for this call, in any form the redactor knows (as
// is, URL- or base64-encoded, as in a reflected Basic or debug header): the
// body is redacted by the output policy, headers are dropped whole.
func stripCredentialHeaders(e *env, st *state, resp *extprocv3.ProcessingResponse, hm *corev3.HeaderMap) {
	hr := resp.GetResponseHeaders()
	if hr == nil || len(st.x.Creds) == 0 {
		return
	}
	var forms []string
	for _, c := range st.x.Creds {
		for _, f := range redact.CredentialForms(c) {
			forms = append(forms, f[0])
		}
	}
	var remove []string
	for _, h := range hm.GetHeaders() {
		k := strings.ToLower(h.GetKey())
		if strings.HasPrefix(k, ":") {
			continue
		}
		v := string(h.GetRawValue())
		if v == "" {
			v = h.GetValue()
		}
		for _, f := range forms {
			if strings.Contains(v, f) {
				remove = append(remove, k)
				break
			}
		}
	}
	if len(remove) == 0 {
		return
	}
	e.problem("credential_in_response_header")
	e.log.Warn("upstream response header carried an injected credential; header removed",
		"decision_id", st.x.DecisionID, "server", st.x.Server, "headers", strings.Join(remove, ","))
	if hr.Response == nil {
		hr.Response = &extprocv3.CommonResponse{}
	}
	if hr.Response.HeaderMutation == nil {
		hr.Response.HeaderMutation = &extprocv3.HeaderMutation{}
	}
	hr.Response.HeaderMutation.RemoveHeaders = append(hr.Response.HeaderMutation.RemoveHeaders, remove...)
	if st.x.notes != nil {
		st.x.notes.Findings = append(st.x.notes.Findings, outguard.Finding{Kind: "redaction", Class: "credential",
			Rule: "response-header", Path: "headers." + strings.Join(remove, ","), Action: "drop"})
	}
}
