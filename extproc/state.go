package extproc

import (
	"encoding/json"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/outguard"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/internal/telemetry"
)

// authzNamespace is where ext_authz leaves its decision in Envoy dynamic
// metadata; the filter config forwards it to us on every request message.
const authzNamespace = "envoy.filters.http.ext_authz"

// exchange is what one ext_proc stream knows about the MCP exchange it
// carries. Response transforms (tools/list filtering, redaction, injection
// interception) read it to know which call a response answers.
type exchange struct {
	DecisionID string
	Server     string
	// RPCID is the request id exactly as on the wire, for echoing in errors.
	RPCID  json.RawMessage
	Method string
	Tool   string
	// Who the call is for and through (from ext_authz's verified token).
	User, Agent, Tenant, Task string
	// Arguments of a tools/call, for the outcome's call hash.
	Arguments json.RawMessage
	// Chain is the delegation chain, acting agent first.
	Chain []string

	// Class is the server's data classification (selects the output
	// policy); Creds are credentials the gateway injected upstream for this
	// call, redacted from anything coming back.
	Class string
	Creds []string
	// notes collect what the response phases did, for the outcome record.
	// Shared by pointer: the SSE hook holds a copy of the exchange.
	notes *notes

	HTTPMethod      string
	Path            string
	SessionID       string
	ProtocolVersion string
}

// notes are what the response phases did to one exchange.
type notes struct {
	Hidden   []hiddenNote
	Findings []outguard.Finding
	// Blocked is the reason a message was withheld ("" if none was).
	Blocked string
	// Output is the response message forwarded on an SSE stream.
	Output []byte
}

// hiddenNote is one tool removed from a tools/list result.
type hiddenNote struct {
	Tool string
	hiddenTool
}

// bodyHandling is how the response body of this stream is processed.
type bodyHandling int

const (
	bodyNone        bodyHandling = iota // no response body expected
	bodyPassthrough                     // STREAMED chunks forwarded as they are
	bodyJSON                            // BUFFERED: one JSON-RPC message
	bodySSE                             // STREAMED text/event-stream, reassembled
	bodyWithheld                        // BUFFERED, replaced: output the guard cannot read
)

func (b bodyHandling) String() string {
	return [...]string{"none", "passthrough", "json", "sse", "withheld"}[b]
}

// state is everything one stream remembers between messages. Phase
// functions take it by value and return the next one; only the SSE
// reassembler is shared by pointer, and it belongs to this stream alone.
type state struct {
	sawRequest bool // false for a local reply reaching us as response_headers first
	x          exchange
	started    time.Time
	finished   bool // the outcome event was written
	span       telemetry.Span

	status   int
	respBody bodyHandling
	sse      *mcp.SSEReassembler
	// sseFailed: an error event already ended the SSE stream for the client;
	// every later chunk is dropped.
	sseFailed bool
}

// jsonTransform rewrites a complete JSON-RPC response body; it returns body
// itself when nothing changes.
type jsonTransform func(x *exchange, msg *mcp.Message, body []byte) ([]byte, error)

// eventTransform rewrites one SSE event (see mcp.SSEHook).
type eventTransform func(x *exchange, ev *mcp.SSEEvent) ([]byte, error)

func identityJSON(_ *exchange, _ *mcp.Message, body []byte) ([]byte, error) { return body, nil }

func identityEvent(_ *exchange, ev *mcp.SSEEvent) ([]byte, error) { return ev.Raw, nil }

// env is the per-server configuration phase functions read; it never
// changes after New.
type env struct {
	log      *slog.Logger
	maxBody  int
	maxEvent int
	// problem counts a handled problem by reason; never nil.
	problem func(reason string)

	// registry returns the current registry (tools/list filtering); nil
	// disables filtering.
	registry func() *registry.Registry
	// observe shares what a server advertised (tool → definition hash);
	// nil when drift is not tracked.
	observe func(server string, hashes map[string]string) error
	// guard is the output policy (redaction, injection interception); nil
	// forwards tool output as the upstream sent it.
	guard *outguard.Guard
	// finding counts one guard finding; never nil.
	finding func(f outguard.Finding)
	// recorder receives outcome events; nil: not audited.
	recorder Recorder
	// credentials builds what replaces the agent's token upstream; nil
	// forwards the request without one.
	credentials Credentials
	// tracer records one span per exchange; nil: no tracing.
	tracer         trace.Tracer
	transformJSON  jsonTransform
	transformEvent eventTransform
}

// readAuthzMetadata fills what ext_authz decided for this request, keeping
// values already known.
func (x *exchange) readAuthzMetadata(md *corev3.Metadata) {
	fields := md.GetFilterMetadata()[authzNamespace].GetFields()
	if len(fields) == 0 {
		return
	}
	str := func(k string) string { return fields[k].GetStringValue() }
	if x.DecisionID == "" {
		x.DecisionID = str(decision.MetaDecisionID)
	}
	if x.Server == "" {
		x.Server = str(decision.MetaServer)
	}
	if x.Method == "" {
		x.Method = str(decision.MetaMethod)
	}
	if x.Tool == "" {
		x.Tool = str(decision.MetaTool)
	}
	if x.RPCID == nil {
		x.RPCID = rawIDFromMetadata(fields[decision.MetaRequestID])
	}
	if x.Agent == "" {
		x.User, x.Agent, x.Tenant, x.Task = str(decision.MetaUser), str(decision.MetaAgent), str(decision.MetaTenant), str(decision.MetaTask)
		if c := str(decision.MetaChain); c != "" {
			x.Chain = strings.Split(c, ",")
		}
	}
}

// rawIDFromMetadata turns the jsonrpc_id metadata value back into wire
// form. ext_authz stores the raw id bytes (`7`, `"req-7"`) as a string;
// a bare string that is not valid id JSON is taken as a string id, a number
// value as an integer id. Anything else is ignored: a wrong id is worse
// than none.
func rawIDFromMetadata(v *structpb.Value) json.RawMessage {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		s := k.StringValue
		if s == "" {
			return nil
		}
		if isWireID(s) {
			return json.RawMessage(s)
		}
		b, err := json.Marshal(s)
		if err != nil {
			return nil
		}
		return b
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil
		}
		return json.RawMessage(strconv.FormatInt(int64(f), 10))
	}
	return nil
}

// isWireID reports whether s is a JSON string literal or a JSON integer.
func isWireID(s string) bool {
	if s[0] == '"' {
		var v string
		return json.Unmarshal([]byte(s), &v) == nil
	}
	for i, c := range []byte(s) {
		if (c < '0' || c > '9') && (c != '-' || i != 0) {
			return false
		}
	}
	return json.Valid([]byte(s))
}
