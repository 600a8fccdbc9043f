package redact

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect"
)

// Benchmarks for docs/perf/redaction.md: MB/s on 16 KiB bodies, ours and
// gitleaks' own detector on the same input.
//
//	go test -run '^$' -bench 'Redact16K' -benchtime 2s ./internal/redact/

const benchSize = 16 << 10

// cleanText is ordinary tool output without secrets: prose, JSON and code
// that use the words secret rules key on ("key", "token", "auth", …).
func cleanText() []byte {
	r := rand.New(rand.NewPCG(1, 1))
	words := strings.Fields(`the a of to and in is for on with as by at from this that service request
		response user account access token key api auth session config value error retry deploy build
		cluster node region bucket object file path version update status report secret manager rotate`)
	var sb strings.Builder
	for sb.Len() < benchSize {
		switch r.IntN(3) {
		case 0:
			for i := 0; i < 12; i++ {
				sb.WriteString(words[r.IntN(len(words))] + " ")
			}
			sb.WriteString(". ")
		case 1:
			sb.WriteString(`{"id":` + itoa(r.IntN(100000)) + `,"name":"` + words[r.IntN(len(words))] +
				`","auth":{"type":"oauth","token_url":"https://auth.example.com/token"},"updated":"2026-11-26T08:00:00Z"}` + "\n")
		default:
			sb.WriteString("func (s *Server) " + words[r.IntN(len(words))] + "(ctx context.Context, key string) error {\n\treturn s.store.Get(ctx, key)\n}\n")
		}
	}
	return []byte(sb.String()[:benchSize])
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// corpusText is benign tool output from the BIPIA email and code contexts
// (/work/shared/corpora), when present.
func corpusText(b *testing.B) []byte {
	dir := os.Getenv("ACTIONGATE_CORPORA")
	if dir == "" {
		dir = "/work/shared/corpora"
	}
	var sb strings.Builder
	for _, name := range []string{"email-train.jsonl", "code-train.jsonl"} {
		f, err := os.Open(filepath.Join(dir, "bipia", name))
		if err != nil {
			b.Skip("BIPIA corpus not found; set ACTIONGATE_CORPORA")
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() && sb.Len() < benchSize {
			var rec struct{ Context string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				sb.WriteString(rec.Context + "\n")
			}
		}
		f.Close()
	}
	if sb.Len() < benchSize {
		b.Skip("BIPIA corpus too small")
	}
	return []byte(sb.String()[:benchSize])
}

// proseText is text none of whose words holds a gitleaks keyword: the
// input on which gitleaks does least (its prefilter finds nothing).
func proseText(d *detect.Detector) []byte {
	words := strings.Fields(`the quick brown fox jumps over lazy dog while reading long logs from
		many small services in one region every hour as requests arrive and leave through gateways
		with timing data counted per minute for later review by people who watch charts all day`)
	var clean []string
	for _, w := range words {
		ok := true
		for k := range d.Config.Keywords {
			if strings.Contains(w, k) {
				ok = false
			}
		}
		if ok {
			clean = append(clean, w)
		}
	}
	r := rand.New(rand.NewPCG(2, 2))
	var sb strings.Builder
	for sb.Len() < benchSize {
		sb.WriteString(clean[r.IntN(len(clean))])
		sb.WriteByte(" .,\n"[r.IntN(4)])
	}
	return []byte(sb.String()[:benchSize])
}

// stuffedGeneric repeats the generic rule's keywords.
func stuffedGeneric() []byte {
	return []byte(strings.Repeat("api key token secret password auth access credential ", benchSize/40)[:benchSize])
}

// stuffedAll cycles through every gitleaks keyword.
func stuffedAll(d *detect.Detector) []byte {
	kws := make([]string, 0, len(d.Config.Keywords))
	for k := range d.Config.Keywords {
		kws = append(kws, k)
	}
	slices.Sort(kws)
	var sb strings.Builder
	for sb.Len() < benchSize {
		for _, k := range kws {
			sb.WriteString(k + " ")
		}
	}
	return []byte(sb.String()[:benchSize])
}

var (
	glOnce sync.Once
	glDet  *detect.Detector
	glErr  error
)

func gitleaksDetector(b *testing.B) *detect.Detector {
	glOnce.Do(func() { glDet, glErr = detect.NewDetectorDefaultConfig() })
	if glErr != nil {
		b.Fatal(glErr)
	}
	return glDet
}

func secretsOnly(b *testing.B) *Policy {
	p, err := NewPolicy(Config{Actions: map[Kind]Action{KindEmail: ActionOff, KindPhone: ActionOff,
		KindCard: ActionOff, KindIBAN: ActionOff, KindNationalID: ActionOff}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkRedact16K(b *testing.B) {
	d := gitleaksDetector(b)
	inputs := []struct {
		name string
		text func() []byte
	}{
		{"prose", func() []byte { return proseText(d) }},
		{"clean", cleanText},
		{"corpus", func() []byte { return corpusText(b) }},
		{"stuffed-generic", stuffedGeneric},
		{"stuffed-all", func() []byte { return stuffedAll(d) }},
	}
	full, secrets := defaultPolicy(b), secretsOnly(b)
	for _, in := range inputs {
		text := in.text()
		b.Run(in.name+"/gitleaks", func(b *testing.B) {
			s := string(text)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				d.DetectString(s)
			}
		})
		b.Run(in.name+"/secrets", func(b *testing.B) { benchText(b, secrets, text) })
		b.Run(in.name+"/full", func(b *testing.B) { benchText(b, full, text) })
	}
}

func benchText(b *testing.B, p *Policy, text []byte) {
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var r TextResult
	for b.Loop() {
		r = p.RedactText(text)
	}
	if r.Blocked != nil || r.Exhausted {
		b.Logf("blocked=%v exhausted=%v", r.Blocked, r.Exhausted)
	}
}

// adversarial inputs: each aims at one part of the engine. Used by the
// worst-case benchmark; every one must finish (redacted or blocked) within
// the budget.
func adversarial() map[string][]byte {
	b64 := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 500)
	in := map[string]string{
		"jwt-prefix":      strings.Repeat("ey", benchSize),
		"jwt-shaped":      strings.Repeat("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", 500),
		"assign-chain":    strings.Repeat("key=", benchSize),
		"many-secrets":    strings.Repeat("api_key=abcdefghij0123 ", 800),
		"pem-headers":     strings.Repeat("-----BEGIN PRIVATE KEY-----\n", 600),
		"long-base64":     strings.Repeat("ops_eyJ"+b64[:200], 80),
		"generic-kw":      string(stuffedGeneric()),
		"assign-short":    strings.Repeat("key = x ", 2100),
		"dots":            strings.Repeat("s.s.s.", 3000),
		"url-userinfo":    strings.Repeat("https://a:b@c ", 1200),
		"digit-groups":    strings.Repeat("555-1234, ", 1700),
		"phone-numbers":   strings.Repeat("+1 415 555 2671 ", 1100),
		"card-numbers":    strings.Repeat("4111 1111 1111 1111 ", 900),
		"email-addresses": strings.Repeat("a@b.co ", 2400),
		"at-signs":        strings.Repeat("@", benchSize),
	}
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = []byte(v[:benchSize])
	}
	return out
}

func BenchmarkRedact16KAdversarial(b *testing.B) {
	p := defaultPolicy(b)
	in := adversarial()
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		b.Run(name, func(b *testing.B) { benchText(b, p, in[name]) })
	}
}
