// Package e2e runs ActionGate end to end on this machine with real parts:
// the official MCP Go SDK as agent and as upstream servers, the npm
// reference server, SpiceDB, a Kafka-protocol broker, our services, and the
// Envoy stand-in fed by our xDS server. One environment serves the whole
// package; its logs are printed only when a test fails.
package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiongate/actiongate/envoy/standin"
	"github.com/actiongate/actiongate/internal/app"
	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/demo"
	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/ratelimit"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/internal/stack"
	"github.com/actiongate/actiongate/internal/telemetry/otlptest"
)

// env is the shared environment, set up by TestMain.
var env *environment

type environment struct {
	stack       *stack.Stack
	registryDir string
	demos       map[string]*demo.Running
	everything  *devenv.Everything
	shortIdP    *devidp.IdP // a second trusted issuer with two-second tokens
	logs        *devenv.Logs
	// split, when set, re-cuts streamed bodies instead of the random
	// splitter (tests that need chosen cut points).
	split atomic.Pointer[func([]byte) [][]byte]

	// adminAddr and idpAddr are chosen before anything starts: upstreams
	// verify minted tokens against the admin API's JWKS, and the code
	// host calls the IdP's API.
	adminAddr, idpAddr string
	// upstream records what the token-checking upstreams received.
	upstream *upstreamLog
	codeSeen *demo.Seen
	ssf      *ssfTransmitter
	otlp     *otlptest.Receiver // the OTel backend spans are exported to
}

// upstream modes: JSON servers and SSE servers (session-based), so both
// response styles cross the gateway.
var demoModes = map[string]demo.Mode{
	"ehr":     demo.ModeJSON | demo.ModeStateless,
	"trading": demo.ModeSSE,
	"mail":    demo.ModeJSON,
}

// extraMail are further registered copies of the mail server, for tests
// that need the SSE style (mail-sse) or change a tool under the gateway
// (mail-drift) without disturbing other tests.
var extraMail = map[string]demo.Mode{
	"mail-sse":   demo.ModeSSE,
	"mail-drift": demo.ModeJSON,
}

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	e, err := setUp(ctx)
	// A few addresses are chosen before their servers start (upstreams
	// need the admin API's and the IdP's URLs first); another process can
	// take such a port in between. Start again on fresh ports then.
	for attempt := 1; err != nil && strings.Contains(err.Error(), "address already in use") && attempt < 3; attempt++ {
		fmt.Fprintf(os.Stderr, "e2e: %v; starting the environment again\n", err)
		if e != nil {
			e.tearDown()
		}
		e, err = setUp(ctx)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: environment did not start: %v\n", err)
		if e != nil {
			fmt.Fprintf(os.Stderr, "--- environment logs ---\n%s\n", e.logs.Tail(200))
			e.tearDown()
		}
		cancel()
		os.Exit(1)
	}
	env = e
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- environment logs (last 300 lines) ---\n%s\n", e.logs.Tail(300))
	}
	e.tearDown()
	cancel()
	os.Exit(code)
}

func setUp(ctx context.Context) (*environment, error) {
	// Spans reach the test's OTLP backend within 200 ms instead of the
	// batch processor's default 5 s (the SDK reads this standard variable).
	os.Setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
	e := &environment{logs: devenv.NewLogs(4 << 20), demos: map[string]*demo.Running{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, a := range []*string{&e.adminAddr, &e.idpAddr} {
		p, err := devenv.FreePort()
		if err != nil {
			return e, err
		}
		*a = "127.0.0.1:" + strconv.Itoa(p)
	}
	e.upstream = &upstreamLog{}
	for id, mode := range demoModes {
		var r *demo.Running
		var err error
		if id == "ehr" {
			// The clinical records server checks the gateway's tokens, as
			// a real upstream would.
			r, err = e.startVerified(id, mode)
		} else {
			r, err = demo.Start("", id, mode)
		}
		if err != nil {
			return e, err
		}
		e.demos[id] = r
	}
	ssf, err := newSSFTransmitter()
	if err != nil {
		return e, err
	}
	e.ssf = ssf
	if e.otlp, err = otlptest.Start(); err != nil {
		return e, err
	}
	code, seen, err := e.startCode()
	if err != nil {
		return e, err
	}
	e.demos["code"], e.codeSeen = code, seen
	for id, mode := range extraMail {
		r, err := demo.Start("", "mail", mode)
		if err != nil {
			return e, err
		}
		e.demos[id] = r
	}
	dir, err := devenv.EnsureEverything(ctx, e.logs)
	if err != nil {
		return e, fmt.Errorf("npm reference server: %w", err)
	}
	if e.everything, err = devenv.StartEverything(ctx, devenv.EverythingOptions{Dir: dir}); err != nil {
		return e, fmt.Errorf("npm reference server: %w", err)
	}
	if e.registryDir, err = e.writeRegistry(); err != nil {
		return e, err
	}
	e.shortIdP, err = devidp.Start(ctx, devidp.Options{AccessTokenTTL: 2 * time.Second,
		Users:  []devidp.User{{Subject: "dr-alice", Tenant: "st-marys"}},
		Agents: []devidp.Agent{{ClientID: "note-summarizer", ClientSecret: devidp.DevSecret("note-summarizer")}}})
	if err != nil {
		return e, err
	}
	e.stack, err = stack.Start(ctx, stack.Options{
		RegistryDir: e.registryDir, RegistryPoll: 100 * time.Millisecond,
		// Envoy cuts streamed bodies wherever the network does; cut them
		// everywhere so SSE handling is tested at every boundary.
		ChunkSplitter: e.splitter(standin.RandomSplitter(1)),
		// An OAuth client the IdP knows but the registry does not.
		IdP: func(o *devidp.Options) {
			o.Agents = append(o.Agents, devidp.Agent{ClientID: "rogue-agent", ClientSecret: devidp.DevSecret("rogue-agent")})
			o.Apps = append(o.Apps, devidp.App{ClientID: codeHostApp, RedirectURIs: []string{"http://" + e.adminAddr + "/connect/callback"},
				Scopes: []string{"repo"}})
		},
		IdPAddr: e.idpAddr, AdminAddr: e.adminAddr, TracingEndpoint: e.otlp.URL(),
		// Short-lived tokens and a quick key roll-over, so expiry and
		// rotation can be tested in seconds.
		TokenLifetime: 3 * time.Second, KeyPropagation: 300 * time.Millisecond,
		Broker: []broker.Provider{codeHostProvider(e.idpAddr)},
		SSF: []app.SSFConfig{{Name: "e2e-idp", Issuer: ssfIssuer, JWKSURL: e.ssf.jwks.URL, Audience: "actiongate-e2e",
			SubjectIssuers: []string{"http://" + e.idpAddr}}},
		SCIM:         &app.SCIMConfig{Issuer: "http://" + e.idpAddr, BearerToken: scimToken},
		ExtraIssuers: []string{e.shortIdP.Issuer},
		// Only get-annotated-message is limited, so no other test competes
		// for its bucket.
		RateLimits: &app.RateLimitConfig{Tools: map[string]ratelimit.Rate{"everything/get-annotated-message": {PerMinute: 2}}},
		Logger:     log, Progress: e.logs,
	})
	return e, err
}

// writeRegistry copies the example registry, points its servers at the
// demo servers' random ports, and registers the npm reference server with
// only some of its tools (the rest are "shadow tools" the gateway denies).
func (e *environment) writeRegistry() (string, error) {
	src := filepath.Join("..", "examples", "registry")
	example, err := registry.Load(src)
	if err != nil {
		return "", err
	}
	dst, err := os.MkdirTemp("", "actiongate-e2e-registry-")
	if err != nil {
		return "", err
	}
	replace := map[string]string{}
	for _, s := range example.Servers {
		if r, ok := e.demos[s.ID]; ok {
			replace[s.Upstream] = r.URL
		}
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := string(b)
		for from, to := range replace {
			s = strings.ReplaceAll(s, from, to)
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(s), 0o644)
	})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dst, "agents", "e2e-tester.yaml"), []byte(testerAgent), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dst, "servers", "code.yaml"), []byte(codeRegistry(e.demos["code"].URL)), 0o644); err != nil {
		return "", err
	}
	mail, err := os.ReadFile(filepath.Join(src, "servers", "mail.yaml"))
	if err != nil {
		return "", err
	}
	agentPath := filepath.Join(dst, "agents", "inbox-assistant.yaml")
	agent, err := os.ReadFile(agentPath)
	if err != nil {
		return "", err
	}
	for id := range extraMail {
		doc := strings.Replace(string(mail), "id: mail\n", "id: "+id+"\n", 1)
		for from := range replace {
			doc = strings.ReplaceAll(doc, from, e.demos[id].URL)
		}
		if err := os.WriteFile(filepath.Join(dst, "servers", id+".yaml"), []byte(doc), 0o644); err != nil {
			return "", err
		}
		agent = append(agent, []byte("    - "+id+"/*\n")...)
	}
	if err := os.WriteFile(agentPath, agent, 0o644); err != nil {
		return "", err
	}
	return dst, os.WriteFile(filepath.Join(dst, "servers", "everything.yaml"), []byte(everythingRegistry(e.everything.URL, "")), 0o644)
}

// testerAgent may use every tool of the reference server for qa-user.
const testerAgent = `apiVersion: actiongate.dev/v1
kind: Agent
spec:
  id: e2e-tester
  owner: qa@actiongate.example
  purpose: Exercise the npm reference server through the gateway
  model: {name: test-model, version: "1"}
  tier: 3
  users: [qa-user, qa-user2]
  tenants: [northwind]
  tools: [everything/*, code/*]
`

// everythingRegistry registers the reference server with echo, get-sum
// and get-annotated-message, plus extra tool entries. The definitions are
// exactly what the server advertises (pinned: anything else is a changed
// tool the gateway hides and refuses).
func everythingRegistry(upstream, extra string) string {
	return `apiVersion: actiongate.dev/v1
kind: MCPServer
spec:
  id: everything
  upstream: ` + upstream + `
  owner: platform@actiongate.example
  purpose: The MCP reference server, registered with a subset of its tools
  classification: internal
  tools:
    - name: echo
      title: Echo Tool
      description: Echoes back the input string
      risk: low
` + everythingHints + `
      inputSchema:
        $schema: "http://json-schema.org/draft-07/schema#"
        type: object
        properties: {message: {type: string, description: Message to echo}}
        required: [message]
    - name: get-sum
      title: Get Sum Tool
      description: Returns the sum of two numbers
      risk: low
` + everythingHints + `
      inputSchema:
        $schema: "http://json-schema.org/draft-07/schema#"
        type: object
        properties: {a: {type: number, description: First number}, b: {type: number, description: Second number}}
        required: [a, b]
    - name: get-annotated-message
      title: Get Annotated Message Tool
      description: Demonstrates how annotations can be used to provide metadata about content.
      risk: low
` + everythingHints + `
      inputSchema:
        $schema: "http://json-schema.org/draft-07/schema#"
        type: object
        properties:
          includeImage: {type: boolean, default: false, description: Whether to include an example image}
          messageType: {type: string, enum: [error, success, debug], description: Type of message to demonstrate different annotation patterns}
        required: [messageType]
` + extra
}

// everythingHints are the annotations the reference server gives each of
// these tools.
const everythingHints = `      annotations: {readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false}`

// splitter cuts streamed bodies with the test's splitter when one is
// set, else with def.
func (e *environment) splitter(def func([]byte) [][]byte) func([]byte) [][]byte {
	return func(b []byte) [][]byte {
		if f := e.split.Load(); f != nil {
			return (*f)(b)
		}
		return def(b)
	}
}

func (e *environment) tearDown() {
	if e.stack != nil {
		e.stack.Close()
	}
	if e.everything != nil {
		e.everything.Stop()
	}
	if e.shortIdP != nil {
		e.shortIdP.Stop()
	}
	if e.ssf != nil {
		e.ssf.jwks.Close()
	}
	if e.otlp != nil {
		e.otlp.Close()
	}
	for _, r := range e.demos {
		_ = r.Close()
	}
	if e.registryDir != "" {
		_ = os.RemoveAll(e.registryDir)
	}
}
