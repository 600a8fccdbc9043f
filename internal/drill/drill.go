// Package drill runs the offboarding fire drill against a running
// deployment: traffic as the user to offboard and as other users, one
// revocation through the admin API, and the measured times until the
// user's next call is refused and the user's open stream ends, with proof
// that nobody else saw an error. Its report is the evidence a CISO asks
// for; `actiongate drill offboard` prints it.
//
// Tokens come from the development OpenID Provider (the quickstart's), so
// the drill runs against the quickstart or a test deployment, not against
// a production IdP.
package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/registry"
)

// Options say where the deployment is and whom to offboard.
type Options struct {
	Gateway    string // the data plane, e.g. http://127.0.0.1:10000
	Admin      string // the admin API, e.g. http://127.0.0.1:9901
	AdminToken string
	IdP        string // the dev IdP issuer
	Registry   *registry.Registry
	User       string
	// Others are users whose traffic must be undisturbed (default: up to
	// two other users the registry names).
	Others []string
	// Interval between one user's calls (default 20 ms); Warmup of traffic
	// before the revocation and Observe after it (defaults 1 s and 2 s).
	Interval, Warmup, Observe time.Duration
	// Keep leaves the user revoked; by default the drill lifts the
	// revocation at the end so the deployment is as it was.
	Keep     bool
	Progress io.Writer
	Client   *http.Client
}

// Report is the drill's evidence. Times are from the moment the
// revocation request was sent.
type Report struct {
	User   string `json:"user"`
	Agent  string `json:"agent"`
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// RevokeReturned: the revoke command returned (every live replica
	// confirmed, or it named the ones that did not).
	RevokeReturned time.Duration `json:"revokeReturnedNs"`
	Replicas       int           `json:"replicasConfirmed"`
	Missing        []string      `json:"replicasMissing,omitempty"`
	// FirstDenied: the first of the user's calls answered "revoked".
	FirstDenied time.Duration `json:"firstDeniedNs"`
	// AllowedAfterConfirm counts the user's calls sent after the revoke
	// command returned that were still allowed: must be 0.
	AllowedAfterConfirm int `json:"allowedAfterConfirm"`
	// StreamEnded: the user's open SSE stream ended (-1: the server keeps
	// no standalone stream, so none was open).
	StreamEnded time.Duration `json:"streamEndedNs"`
	CallsBefore int           `json:"userCallsBefore"`
	DeniedAfter int           `json:"userDeniedAfter"`
	Others      []OtherReport `json:"others"`
	Lifted      bool          `json:"lifted"`
	Pass        bool          `json:"pass"`
	Problems    []string      `json:"problems,omitempty"`
}

// OtherReport is another user's traffic during the drill.
type OtherReport struct {
	User   string `json:"user"`
	Server string `json:"server"`
	Calls  int    `json:"calls"`
	Errors int    `json:"errors"`
}

// Target is the one-second enforcement target.
const Target = time.Second

type call struct {
	sent, done time.Time
	outcome    string // "ok", a denial reason, or "error: …"
}

// actor is one user's MCP session through the gateway.
type actor struct {
	o                    *Options
	user, agent, tenant  string
	server, tool         string
	args                 json.RawMessage
	token, session, url  string
	mu                   sync.Mutex
	calls                []call
	streamOpen, streamAt time.Time
	streamErr            error
}

// Offboard runs the drill.
func Offboard(ctx context.Context, o Options) (Report, error) {
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.Warmup <= 0 {
		o.Warmup = time.Second
	}
	if o.Observe <= 0 {
		o.Observe = 2 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Registry == nil {
		return Report{}, errors.New("drill: a registry is required")
	}
	target, err := newActor(ctx, &o, o.User)
	if err != nil {
		return Report{}, err
	}
	if len(o.Others) == 0 {
		o.Others = otherUsers(o.Registry, o.User, 2)
	}
	var others []*actor
	for _, u := range o.Others {
		a, err := newActor(ctx, &o, u)
		if err != nil {
			return Report{}, err
		}
		others = append(others, a)
	}
	rep := Report{User: target.user, Agent: target.agent, Server: target.server, Tool: target.tool, StreamEnded: -1}
	fmt.Fprintf(o.Progress, "offboarding drill: %s (via %s, %s/%s); others: %s\n", target.user, target.agent,
		target.server, target.tool, strings.Join(o.Others, ", "))

	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var wg sync.WaitGroup
	for _, a := range append([]*actor{target}, others...) {
		wg.Add(1)
		go func() { defer wg.Done(); a.loop(trafficCtx) }()
	}
	streamDone := make(chan struct{})
	go func() { defer close(streamDone); target.stream(trafficCtx) }()

	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	fmt.Fprintf(o.Progress, "  traffic running; revoking %s\n", target.user)
	t0 := time.Now()
	receipt, err := revoke(ctx, &o, target.user, false)
	confirmed := time.Now()
	rep.RevokeReturned = confirmed.Sub(t0)
	if err != nil {
		rep.Problems = append(rep.Problems, "revoke: "+err.Error())
	}
	rep.Replicas, rep.Missing = len(receipt.Confirmed), receipt.Missing
	select {
	case <-time.After(o.Observe):
	case <-ctx.Done():
	}
	stopTraffic()
	wg.Wait()
	<-streamDone

	for _, c := range target.snapshot() {
		switch {
		case c.sent.Before(t0):
			rep.CallsBefore++
		case c.outcome == "revoked":
			rep.DeniedAfter++
			if rep.FirstDenied == 0 || c.done.Sub(t0) < rep.FirstDenied {
				rep.FirstDenied = c.done.Sub(t0)
			}
		case c.outcome == "ok" && c.sent.After(confirmed):
			rep.AllowedAfterConfirm++
		}
	}
	if !target.streamOpen.IsZero() && !target.streamAt.IsZero() && target.streamAt.After(t0) {
		rep.StreamEnded = target.streamAt.Sub(t0)
	}
	for _, a := range others {
		or := OtherReport{User: a.user, Server: a.server}
		for _, c := range a.snapshot() {
			or.Calls++
			if c.outcome != "ok" {
				or.Errors++
			}
		}
		rep.Others = append(rep.Others, or)
	}
	if !o.Keep {
		if _, err := revoke(ctx, &o, target.user, true); err != nil {
			rep.Problems = append(rep.Problems, "lift: "+err.Error())
		} else {
			rep.Lifted = true
		}
	}
	rep.judge()
	return rep, nil
}

func (r *Report) judge() {
	switch {
	case r.DeniedAfter == 0:
		r.Problems = append(r.Problems, "the user's calls were never refused")
	case r.FirstDenied > Target:
		r.Problems = append(r.Problems, fmt.Sprintf("first refusal after %s (target %s)", r.FirstDenied, Target))
	}
	if r.AllowedAfterConfirm > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d calls allowed after the revocation was confirmed", r.AllowedAfterConfirm))
	}
	if r.StreamEnded > Target {
		r.Problems = append(r.Problems, fmt.Sprintf("open stream ended after %s (target %s)", r.StreamEnded, Target))
	}
	if len(r.Missing) > 0 {
		r.Problems = append(r.Problems, "replicas did not confirm: "+strings.Join(r.Missing, ", "))
	}
	for _, o := range r.Others {
		if o.Errors > 0 || o.Calls == 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d errors in %d calls", o.User, o.Errors, o.Calls))
		}
	}
	r.Pass = len(r.Problems) == 0
}

// otherUsers picks n users the registry names, other than user.
func otherUsers(reg *registry.Registry, user string, n int) []string {
	var out []string
	for _, a := range reg.Agents {
		for _, u := range a.Users {
			if u != user && !slices.Contains(out, u) && len(out) < n {
				if _, _, _, ok := pick(reg, u); ok {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// pick finds an agent acting for user and a read-only tool it may call.
func pick(reg *registry.Registry, user string) (*registry.Agent, *registry.Server, *registry.Tool, bool) {
	agents := slices.Clone(reg.Agents)
	sort.Slice(agents, func(i, j int) bool { return agents[i].ID < agents[j].ID })
	for i := range agents {
		a := &agents[i]
		if !slices.Contains(a.Users, user) {
			continue
		}
		for _, ref := range a.Tools {
			srv, ok := reg.Server(ref.Server)
			if !ok || srv.Credential != nil {
				continue // a brokered account the drill's users may not have connected
			}
			for j := range srv.Tools {
				t := &srv.Tools[j]
				ro := t.Annotations.ReadOnlyHint != nil && *t.Annotations.ReadOnlyHint
				if ro && a.MayUse(srv.ID, t.Name) {
					return a, srv, t, true
				}
			}
		}
	}
	return nil, nil, nil, false
}

func newActor(ctx context.Context, o *Options, user string) (*actor, error) {
	ag, srv, tool, ok := pick(o.Registry, user)
	if !ok {
		return nil, fmt.Errorf("drill: no agent in the registry acts for %q with a read-only tool", user)
	}
	args, err := sampleArguments(tool.InputSchema)
	if err != nil {
		return nil, fmt.Errorf("drill: arguments for %s/%s: %w", srv.ID, tool.Name, err)
	}
	a := &actor{o: o, user: user, agent: ag.ID, tenant: ag.Tenants[0], server: srv.ID, tool: tool.Name, args: args,
		url: strings.TrimRight(o.Gateway, "/") + "/mcp/" + srv.ID}
	if a.token, err = devidp.Token(ctx, o.IdP, user, ag.ID, devidp.DevSecret(ag.ID), a.tenant); err != nil {
		return nil, fmt.Errorf("drill: token for %s: %w", user, err)
	}
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"actiongate-drill","version":"1"}}}`
	resp, _, err := a.post(ctx, init)
	if err != nil {
		return nil, fmt.Errorf("drill: initialize %s as %s: %w", srv.ID, user, err)
	}
	a.session = resp.Header.Get("Mcp-Session-Id")
	if _, _, err := a.post(ctx, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return nil, fmt.Errorf("drill: initialized %s as %s: %w", srv.ID, user, err)
	}
	return a, nil
}

func (a *actor) post(ctx context.Context, body string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if a.session != "" {
		req.Header.Set("Mcp-Session-Id", a.session)
	}
	resp, err := a.o.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, err
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusForbidden {
		return resp, b, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp, b, nil
}

// loop calls the tool until ctx ends, recording each outcome.
func (a *actor) loop(ctx context.Context) {
	for id := 1; ctx.Err() == nil; id++ {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, a.tool, a.args)
		c := call{sent: time.Now()}
		_, b, err := a.post(ctx, body)
		c.done = time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.outcome = "error: " + err.Error()
		default:
			c.outcome = outcomeOf(b)
		}
		a.mu.Lock()
		a.calls = append(a.calls, c)
		a.mu.Unlock()
		select {
		case <-time.After(a.o.Interval):
		case <-ctx.Done():
			return
		}
	}
}

// stream holds the session's standalone SSE stream open and records when
// it ends.
func (a *actor) stream(ctx context.Context) {
	if a.session == "" {
		fmt.Fprintf(a.o.Progress, "  %s: no session on %s, so no standalone stream to hold open\n", a.user, a.server)
		return // a stateless server keeps no stream to open
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set("Mcp-Session-Id", a.session)
	c := &http.Client{Transport: a.o.Client.Transport} // no overall timeout: the stream is long-lived
	resp, err := c.Do(req)
	if err != nil {
		fmt.Fprintf(a.o.Progress, "  %s: could not open the SSE stream: %v\n", a.user, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(a.o.Progress, "  %s: the server refused a standalone SSE stream (HTTP %d)\n", a.user, resp.StatusCode)
		return
	}
	a.mu.Lock()
	a.streamOpen = time.Now()
	a.mu.Unlock()
	_, err = io.Copy(io.Discard, resp.Body)
	if ctx.Err() != nil {
		return // we closed it
	}
	a.mu.Lock()
	a.streamAt, a.streamErr = time.Now(), err
	a.mu.Unlock()
}

func (a *actor) snapshot() []call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// outcomeOf reads a tools/call answer (JSON or SSE): "ok", or the
// gateway's denial reason, or "error".
func outcomeOf(b []byte) string {
	msg := b
	if i := bytes.Index(b, []byte("data: ")); i >= 0 && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		rest := b[i+len("data: "):]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		msg = rest
	}
	var m struct {
		Result *struct {
			IsError bool `json:"isError"`
		} `json:"result"`
		Error *struct {
			Data struct {
				Reason string `json:"reason"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return "error: unreadable answer"
	}
	switch {
	case m.Error != nil && m.Error.Data.Reason != "":
		return m.Error.Data.Reason
	case m.Error != nil:
		return "error: JSON-RPC error"
	case m.Result != nil && m.Result.IsError:
		return "error: tool error"
	}
	return "ok"
}

// receipt is the admin API's answer.
type receipt struct {
	Confirmed map[string]int64 `json:"confirmedUs"`
	Missing   []string         `json:"missing"`
	Error     string           `json:"error"`
}

func revoke(ctx context.Context, o *Options, user string, lift bool) (receipt, error) {
	body, _ := json.Marshal(map[string]any{"kind": "user", "subject": user, "reason": "offboarding drill", "lift": lift})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.Admin, "/")+"/v1/revocations", bytes.NewReader(body))
	if err != nil {
		return receipt{}, err
	}
	req.Header.Set("Authorization", "Bearer "+o.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.Client.Do(req)
	if err != nil {
		return receipt{}, err
	}
	defer resp.Body.Close()
	var r receipt
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("admin API: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("admin API: HTTP %d: %s", resp.StatusCode, r.Error)
	}
	return r, nil
}
