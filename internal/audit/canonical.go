package audit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// The canonical encoder writes an Event's RFC 8785 form directly: members
// sorted by key, strings escaped as ECMAScript's JSON.stringify does,
// integers in decimal. It is what json.Marshal followed by jcs.Transform
// produces (the fuzz test holds it to that), at a fifth of the cost, which
// matters because every event is encoded on the decision path under the
// spool's lock.

type canonField struct {
	key string
	// emit appends the member's value, or reports it absent (omitempty).
	emit func(b []byte, ev *Event) ([]byte, bool)
}

func strField(key string, get func(*Event) string, always bool) canonField {
	return canonField{key, func(b []byte, ev *Event) ([]byte, bool) {
		s := get(ev)
		if s == "" && !always {
			return b, false
		}
		return appendJCSString(b, s), true
	}}
}

func listField(key string, get func(*Event) []string) canonField {
	return canonField{key, func(b []byte, ev *Event) ([]byte, bool) {
		l := get(ev)
		if len(l) == 0 {
			return b, false
		}
		b = append(b, '[')
		for i, s := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJCSString(b, s)
		}
		return append(b, ']'), true
	}}
}

// maxSafeInt is 2^53: larger integers are not exact in JCS's IEEE doubles.
const maxSafeInt = 1 << 53

var canonFields = func() []canonField {
	fs := []canonField{
		{"v", func(b []byte, ev *Event) ([]byte, bool) { return strconv.AppendInt(b, int64(ev.V), 10), true }},
		{"seq", func(b []byte, ev *Event) ([]byte, bool) { return strconv.AppendUint(b, ev.Seq, 10), true }},
		{"latencyUs", func(b []byte, ev *Event) ([]byte, bool) {
			return strconv.AppendInt(b, ev.LatencyMicros, 10), ev.LatencyMicros != 0
		}},
		{"time", func(b []byte, ev *Event) ([]byte, bool) {
			return appendJCSString(b, ev.Time.Format(time.RFC3339Nano)), true
		}},
		{"arguments", func(b []byte, ev *Event) ([]byte, bool) { return append(b, ev.Arguments...), len(ev.Arguments) > 0 }},
		strField("id", func(ev *Event) string { return ev.ID }, true),
		strField("kind", func(ev *Event) string { return string(ev.Kind) }, true),
		strField("instanceId", func(ev *Event) string { return ev.InstanceID }, true),
		strField("prevHash", func(ev *Event) string { return ev.PrevHash }, true),
		strField("decisionId", func(ev *Event) string { return ev.DecisionID }, true),
		strField("outcome", func(ev *Event) string { return ev.Outcome }, true),
		strField("issuer", func(ev *Event) string { return ev.Issuer }, false),
		strField("user", func(ev *Event) string { return ev.User }, false),
		strField("agent", func(ev *Event) string { return ev.Agent }, false),
		strField("tenant", func(ev *Event) string { return ev.Tenant }, false),
		strField("task", func(ev *Event) string { return ev.Task }, false),
		strField("server", func(ev *Event) string { return ev.Server }, false),
		strField("method", func(ev *Event) string { return ev.Method }, false),
		strField("tool", func(ev *Event) string { return ev.Tool }, false),
		strField("jsonrpcId", func(ev *Event) string { return ev.RequestID }, false),
		strField("toolCallId", func(ev *Event) string { return ev.ToolCallID }, false),
		strField("callHash", func(ev *Event) string { return ev.CallHash }, false),
		strField("promptHash", func(ev *Event) string { return ev.PromptHash }, false),
		strField("model", func(ev *Event) string { return ev.Model }, false),
		strField("registryVersion", func(ev *Event) string { return ev.RegistryVersion }, false),
		strField("policyRevision", func(ev *Event) string { return ev.PolicyRevision }, false),
		strField("inputHash", func(ev *Event) string { return ev.InputHash }, false),
		strField("reason", func(ev *Event) string { return ev.Reason }, false),
		strField("approvalRef", func(ev *Event) string { return ev.ApprovalRef }, false),
		strField("errorType", func(ev *Event) string { return ev.ErrorType }, false),
		strField("outputHash", func(ev *Event) string { return ev.OutputHash }, false),
		listField("chain", func(ev *Event) []string { return ev.Chain }),
		listField("contextRefs", func(ev *Event) []string { return ev.ContextRefs }),
		listField("policyReasons", func(ev *Event) []string { return ev.PolicyReasons }),
		listField("redactions", func(ev *Event) []string { return ev.Redactions }),
	}
	// The keys are ASCII, where byte order is JCS's UTF-16 order.
	sort.Slice(fs, func(i, j int) bool { return fs[i].key < fs[j].key })
	return fs
}()

// Canonical is the event's RFC 8785 encoding: the exact bytes that are
// hashed into the log and shipped as the OTLP body.
func (ev *Event) Canonical() ([]byte, error) {
	if ev.Seq > maxSafeInt || ev.LatencyMicros > maxSafeInt || ev.LatencyMicros < -maxSafeInt ||
		ev.Time.Year() < 0 || ev.Time.Year() > 9999 {
		return nil, fmt.Errorf("audit: event seq, latency or time out of range")
	}
	if len(ev.Arguments) > 0 {
		c, err := jcs.Transform(ev.Arguments)
		if err != nil {
			return nil, fmt.Errorf("audit: arguments are not canonical JSON: %w", err)
		}
		ev.Arguments = c
	}
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	for _, f := range canonFields {
		n := len(b)
		if n > 1 {
			b = append(b, ',')
		}
		b = appendJCSString(b, f.key)
		b = append(b, ':')
		var ok bool
		if b, ok = f.emit(b, ev); !ok {
			b = b[:n]
		}
	}
	return append(b, '}'), nil
}

// slowCanonical is the reference: encoding/json, then JCS.
func slowCanonical(ev *Event) ([]byte, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(raw)
}

const hexDigits = "0123456789abcdef"

// appendJCSString quotes s as RFC 8785 does: only '"', '\\' and control
// characters are escaped; invalid UTF-8 becomes U+FFFD, as encoding/json
// would make it.
func appendJCSString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy a run of plain ASCII at once; the body of an OTLP record is a
		// whole event, mostly such runs.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
