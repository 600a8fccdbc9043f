package redact

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// sample is a text with one of every kind, used by the split tests and as
// the fuzz seed.
const sample = `aws_access_key_id = AKIAZ7VQ4CNHV3HMSPLE and token ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90yz
card 4111 1111 1111 1111 exp 12/25, mail john.doe@example.com, call +1-415-555-2671 or 020 7946 0958.
IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6780. db postgres://admin:S3cr3tPassw0rd@db.internal:5432/app
password = "hunter2hunter2xyzQ9" brokered-token-0123456789 ünïcödé ✓
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7bq2Jd0Gd8pLh0zF2w3rmQ9d8kX5vN1yQ2hF8hG9zQ0pW9fL3mT0vQ4cR8yK2dJ5aN7bX1cV3
-----END RSA PRIVATE KEY-----
`

var (
	splitPolicies     []*Policy
	splitPoliciesOnce sync.Once
)

// policiesForSplit covers the default policy and one with every action,
// credentials, and a budget small enough to run out on longer inputs.
func policiesForSplit(t testing.TB) []*Policy {
	splitPoliciesOnce.Do(func() {
		def, err := NewPolicy(Config{})
		if err != nil {
			t.Fatal(err)
		}
		mixed, err := NewPolicy(Config{
			Actions: map[Kind]Action{KindEmail: ActionHash, KindPhone: ActionReport, KindCard: ActionDrop,
				KindIBAN: ActionBlock},
			RuleActions: map[string]Action{"private-key": ActionBlock},
			Budget:      Budget{Base: 20_000, PerByte: 20, OnExhausted: ActionReport},
			HashKey:     []byte("k"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if mixed, err = mixed.WithCredentials("brokered-token-0123456789"); err != nil {
			t.Fatal(err)
		}
		tight, err := NewPolicy(Config{Budget: Budget{Base: 5_000, PerByte: 10}, MaxPhoneValidations: 1})
		if err != nil {
			t.Fatal(err)
		}
		splitPolicies = []*Policy{def, mixed, tight}
	})
	return splitPolicies
}

// streamed redacts text fed in the given chunk sizes (cycled).
func streamed(p *Policy, text []byte, sizes []int) ([]byte, TextResult, error) {
	st := p.NewStream()
	var out []byte
	for i, k := 0, 0; i < len(text); k++ {
		n := min(sizes[k%len(sizes)], len(text)-i)
		o, err := st.Write(text[i : i+n])
		out = append(out, o...)
		if err != nil {
			return out, st.Result(), err
		}
		i += n
	}
	o, err := st.Close()
	return append(out, o...), st.Result(), err
}

// checkSplit asserts the property: any split gives the output, findings and
// flags of the whole text.
func checkSplit(t *testing.T, p *Policy, text []byte, sizes []int) {
	t.Helper()
	whole := p.RedactText(text)
	out, r, err := streamed(p, text, sizes)
	var blocked *BlockedError
	if errors.As(err, &blocked) != (whole.Blocked != nil) {
		t.Fatalf("sizes %v: stream blocked=%v, whole blocked=%v", sizes, err, whole.Blocked)
	}
	if whole.Blocked != nil && *blocked != *whole.Blocked {
		t.Fatalf("sizes %v: stream blocked by %+v, whole by %+v", sizes, blocked, whole.Blocked)
	}
	if !bytes.Equal(out, whole.Text) {
		t.Fatalf("sizes %v: output differs\nstream: %q\nwhole:  %q", sizes, out, whole.Text)
	}
	if !reflect.DeepEqual(r.Findings, whole.Findings) || r.Exhausted != whole.Exhausted || r.Drop != whole.Drop {
		t.Fatalf("sizes %v: findings differ\nstream: %v %v %v\nwhole:  %v %v %v", sizes,
			r.Findings, r.Exhausted, r.Drop, whole.Findings, whole.Exhausted, whole.Drop)
	}
}

func TestStream_SplitAtEveryOffset(t *testing.T) {
	t.Parallel()
	text := []byte(sample)
	for pi, p := range policiesForSplit(t) {
		for i := 1; i < len(text); i++ {
			checkSplit(t, p, text, []int{i, len(text)})
		}
		for _, sizes := range [][]int{{1}, {2}, {3}, {7}, {1, 2, 3, 5, 8, 13}, {64}, {4095}} {
			checkSplit(t, p, text, sizes)
		}
		if testing.Short() && pi > 0 {
			break
		}
	}
}

func TestStream_HoldsBackOnlyAWindow(t *testing.T) {
	t.Parallel()
	p := policiesForSplit(t)[0]
	st := p.NewStream()
	chunk := []byte(strings.Repeat("plain words and more plain words ", 64))
	var out int
	for i := 0; i < 200; i++ {
		o, err := st.Write(chunk)
		if err != nil {
			t.Fatal(err)
		}
		out += len(o)
	}
	if held := st.Buffered(); held > p.discBack+len(chunk) {
		t.Fatalf("holding %d bytes of clean text, want at most %d", held, p.discBack+len(chunk))
	}
	o, err := st.Close()
	if err != nil || out+len(o) != 200*len(chunk) {
		t.Fatalf("close: %v, %d bytes out of %d", err, out+len(o), 200*len(chunk))
	}
}

// FuzzSplitInvariance: for any input and any split points, the
// concatenated stream output equals the whole-input output, with the same
// findings, exhaustion and block.
func FuzzSplitInvariance(f *testing.F) {
	f.Add([]byte(sample), []byte{1, 7, 200})
	f.Add([]byte("key = 4111111111111111 ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90yz"), []byte{3})
	f.Add([]byte("mail a.b@example.org, +44 20 7946 0958, GB82WEST12345698765432"), []byte{0, 1})
	f.Add([]byte(strings.Repeat("api key token secret ", 40)), []byte{5, 9})
	f.Fuzz(func(t *testing.T, text, cuts []byte) {
		if len(text) > 8192 {
			return
		}
		sizes := []int{len(text) + 1}
		if len(cuts) > 0 {
			sizes = sizes[:0]
			for _, c := range cuts {
				sizes = append(sizes, int(c)%97+1)
			}
		}
		for _, p := range policiesForSplit(t) {
			checkSplit(t, p, text, sizes)
		}
	})
}
