package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const ghp = "ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90yz"

func TestRedactJSONRPC(t *testing.T) {
	t.Parallel()
	p := defaultPolicy(t)
	for _, tc := range []struct {
		name, in, want string
		paths          []string
	}{
		{"text content",
			`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"token ` + ghp + ` ok"}]}}`,
			`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"token [REDACTED:secret] ok"}]}}`,
			[]string{"result.content[0].text"}},
		{"secret split by escapes",
			`{"result":{"content":[{"type":"text","text":"\u0041KIAZ7VQ4CNHV3HMSPLE\n\"x\""}]}}`,
			`{"result":{"content":[{"type":"text","text":"[REDACTED:secret]\n\"x\""}]}}`,
			[]string{"result.content[0].text"}},
		{"surrogate pair kept",
			`{"result":{"content":[{"type":"text","text":"\ud83d\ude00 a@example.com"}]}}`,
			`{"result":{"content":[{"type":"text","text":"😀 [REDACTED:email]"}]}}`,
			[]string{"result.content[0].text"}},
		{"structured content leaves and numbers",
			`{"result":{"structuredContent":{"user":{"mail":"a@example.com","cards":[4111111111111111,"x"]},"n":3}}}`,
			`{"result":{"structuredContent":{"user":{"mail":"[REDACTED:email]","cards":["[REDACTED:card]","x"]},"n":3}}}`,
			[]string{"result.structuredContent.user.mail", "result.structuredContent.user.cards[0]"}},
		{"duplicate and case-folded keys",
			`{"result":{"content":[{"text":"a@example.com"}],"Content":[{"TEXT":"b@example.com"}]}}`,
			`{"result":{"content":[{"text":"[REDACTED:email]"}],"Content":[{"TEXT":"[REDACTED:email]"}]}}`,
			[]string{"result.content[0].text", "result.content[0].text"}},
		{"member names below ** are data",
			`{"result":{"structuredContent":{"a@example.com":{"n":1}}}}`,
			`{"result":{"structuredContent":{"[REDACTED:email]":{"n":1}}}}`,
			[]string{"result.structuredContent.{key}"}},
		{"other members untouched",
			`{"result":{"content":[{"type":"image","data":"a@example.com"}],"_meta":{"x":"a@example.com"}}}`,
			`{"result":{"content":[{"type":"image","data":"a@example.com"}],"_meta":{"x":"a@example.com"}}}`,
			nil},
		{"error message",
			`{"jsonrpc":"2.0","id":"a","error":{"code":-32000,"message":"bad token ` + ghp + `","data":{"hint":"a@example.com"}}}`,
			`{"jsonrpc":"2.0","id":"a","error":{"code":-32000,"message":"bad token [REDACTED:secret]","data":{"hint":"[REDACTED:email]"}}}`,
			[]string{"error.message", "error.data.hint"}},
		{"batch", ` [{"result":{"content":[{"text":"a@example.com"}]}}, {"id":2}] `,
			` [{"result":{"content":[{"text":"[REDACTED:email]"}]}}, {"id":2}] `,
			[]string{"[0].result.content[0].text"}},
		{"whitespace preserved", "{ \"result\" : { \"content\" : [ { \"text\" : \"a@example.com\" } ] } }\n",
			"{ \"result\" : { \"content\" : [ { \"text\" : \"[REDACTED:email]\" } ] } }\n",
			[]string{"result.content[0].text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, fs, err := RedactJSONRPC([]byte(tc.in), p)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got  %s\nwant %s", out, tc.want)
			}
			if !json.Valid(out) {
				t.Fatal("output is not valid JSON")
			}
			var paths []string
			for _, f := range fs {
				paths = append(paths, f.Path)
			}
			if strings.Join(paths, " ") != strings.Join(tc.paths, " ") {
				t.Fatalf("finding paths %v, want %v", paths, tc.paths)
			}
		})
	}
}

func TestRedactJSONRPC_UnchangedIsTheInput(t *testing.T) {
	t.Parallel()
	in := []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"nothing here"}]}}`)
	r, err := defaultPolicy(t).RedactMessage(in)
	if err != nil || r.Changed || &r.Body[0] != &in[0] || len(r.Findings) != 0 {
		t.Fatalf("r=%+v err=%v: want the input slice back, unchanged", r, err)
	}
}

func TestRedactJSONRPC_Drop(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(Config{Actions: map[Kind]Action{KindSecret: ActionDrop}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, want string
		dropped        int
	}{
		{"one of two items",
			`{"result":{"content":[{"type":"text","text":"keep a@example.com"}, {"type":"text","text":"drop ` + ghp + `"}]}}`,
			`{"result":{"content":[{"type":"text","text":"keep [REDACTED:email]"}]}}`, 1},
		{"every item",
			`{"result":{"content":[{"type":"text","text":"` + ghp + `"}],"isError":false}}`,
			`{"result":{"content":[{"type":"text","text":"[REDACTED] content removed by output policy"}],"isError":false}}`, 1},
		{"structured leaf withheld whole",
			`{"result":{"structuredContent":{"k":"token ` + ghp + ` and more"}}}`,
			`{"result":{"structuredContent":{"k":"[REDACTED:secret]"}}}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := p.RedactMessage([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Body) != tc.want || r.Dropped != tc.dropped || !json.Valid(r.Body) {
				t.Fatalf("got %s (dropped %d), want %s (dropped %d)", r.Body, r.Dropped, tc.want, tc.dropped)
			}
		})
	}
}

func TestRedactJSONRPC_Block(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(Config{RuleActions: map[string]Action{"private-key": ActionBlock}})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"a@example.com"},{"type":"text","text":"-----BEGIN PRIVATE KEY-----\n` +
		strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", 2) + `\n-----END PRIVATE KEY-----"}]}}`
	out, fs, err := RedactJSONRPC([]byte(in), p)
	var b *BlockedError
	if !errors.As(err, &b) || !errors.Is(err, ErrBlocked) || out != nil {
		t.Fatalf("out=%s err=%v, want a BlockedError and no body", out, err)
	}
	if b.Kind != KindSecret || b.Rule != "private-key" || b.Path != "result.content[1].text" || len(fs) != 2 {
		t.Fatalf("blocked %+v, findings %v", b, fs)
	}
	body := BlockedBody(json.RawMessage("9"), "dec-1", b)
	if !bytes.Contains(body, []byte(`"id":9`)) || !bytes.Contains(body, []byte(`"reason":"redaction_blocked"`)) ||
		!bytes.Contains(body, []byte(`"decisionId":"dec-1"`)) || bytes.Contains(body, []byte("MIIE")) {
		t.Fatalf("blocked body %s", body)
	}
}

func TestRedactJSONRPC_NotJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "not json", `{"result":`, `{"a":1}{"b":2}`} {
		if _, _, err := RedactJSONRPC([]byte(in), defaultPolicy(t)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("%q: err = %v, want ErrNotJSON", in, err)
		}
	}
}

func TestAppendJSONString_RoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x01\x1f\t\n\r", "ü ✓ 😀", "\u2028\u2029", "bad \xff utf8"} {
		enc := appendJSONString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, enc, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Fatalf("%q -> %s -> %q", s, enc, back)
		}
		if string(unescape(enc[1:len(enc)-1])) != s && !strings.Contains(s, "\xff") {
			t.Fatalf("unescape(%s) != %q", enc, s)
		}
	}
}

// FuzzRedactJSONRPC: valid JSON in gives valid JSON out (or a block), and
// every string the targets name decodes to its own redaction.
func FuzzRedactJSONRPC(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"a@example.com \u0041KIAZ7VQ4CNHV3HMSPLE"}],"structuredContent":{"n":[4111111111111111,{"x":"+1 415 555 2671"}]}}}`))
	f.Add([]byte(`[{"error":{"message":"x","data":"` + ghp + `"}},{"result":{"contents":[{"text":"GB82WEST12345698765432"}]}}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) || len(in) > 1<<14 {
			return
		}
		p := policiesForSplit(t)[1]
		r, err := p.RedactMessage(in)
		if err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		if r.Blocked != nil {
			return
		}
		if !json.Valid(r.Body) {
			t.Fatalf("invalid output %q from %q", r.Body, in)
		}
		if !r.Changed && !bytes.Equal(r.Body, in) {
			t.Fatal("unchanged result differs from the input")
		}
	})
}
