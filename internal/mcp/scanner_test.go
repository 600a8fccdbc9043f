package mcp

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func scanProblem(data string) Problem {
	if err := newScanner([]byte(data)).scan(); err != nil {
		return err.Problem
	}
	return ""
}

func TestScanner_Grammar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Problem // "" = valid
	}{
		{`{}`, ""},
		{` [1, -0, 0.5, 1e9, -2E-3, 3e+2, true, false, null, "x", {"a":[]}] `, ""},
		{`"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"`, ""},
		{"\"caf\u00e9 \xe2\x82\xac\"", ""},
		{`"\ud800"`, ""}, // lone surrogate escape: encoding/json reads it as U+FFFD
		{``, ProblemSyntax},
		{`   `, ProblemSyntax},
		{`{`, ProblemSyntax},
		{`{"a"}`, ProblemSyntax},
		{`{"a":}`, ProblemSyntax},
		{`{"a":1,}`, ProblemSyntax},
		{`{,}`, ProblemSyntax},
		{`{a:1}`, ProblemSyntax},
		{`[1,]`, ProblemSyntax},
		{`[1 2]`, ProblemSyntax},
		{`01`, ProblemTrailingData},
		{`1.`, ProblemSyntax},
		{`.5`, ProblemSyntax},
		{`-`, ProblemSyntax},
		{`1e`, ProblemSyntax},
		{`1e+`, ProblemSyntax},
		{`+1`, ProblemSyntax},
		{`tru`, ProblemSyntax},
		{`nul`, ProblemSyntax},
		{`True`, ProblemSyntax},
		{`"abc`, ProblemSyntax},
		{`"\x"`, ProblemSyntax},
		{`"\u12"`, ProblemSyntax},
		{`"\u12g4"`, ProblemSyntax},
		{"\"a\tb\"", ProblemSyntax}, // raw control character
		{"\"\xff\"", ProblemInvalidUTF8},
		{"\"\xed\xa0\x80\"", ProblemInvalidUTF8}, // UTF-8-encoded surrogate
		{"\"\xe2\x82\"", ProblemInvalidUTF8},     // truncated sequence
		{"\xff", ProblemInvalidUTF8},
		{`{"a":1} {"b":2}`, ProblemTrailingData},
		{`{"a":1}x`, ProblemTrailingData},
		{`{"a":1,"a":2}`, ProblemDuplicateKey},
		{`{"a":1,"\u0061":2}`, ProblemDuplicateKey}, // equal once unescaped
		{`{"\ud800":1,"\udc00":2}`, ProblemDuplicateKey},
		{`[{"a":1,"b":{"a":2}},{"a":3}]`, ""}, // same key in different objects
		{`{"a":{"x":1},"b":{"x":1,"x":2}}`, ProblemDuplicateKey},
		{strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), ""},
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ProblemTooDeep},
		{strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), ProblemTooDeep},
	}
	for _, tc := range tests {
		if got := scanProblem(tc.in); got != tc.want {
			t.Errorf("scan(%.40q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestScanner_LargeObjectDuplicates covers objects past linearKeys, where
// duplicates are found through a set, including a duplicate of a key seen
// before the switch and keys of nested objects in between.
func TestScanner_LargeObjectDuplicates(t *testing.T) {
	t.Parallel()
	obj := func(extra string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 40 {
			fmt.Fprintf(&b, `"k%d":{"k%d":1},`, i, i)
		}
		b.WriteString(extra + "}")
		return b.String()
	}
	if p := scanProblem(obj(`"last":1`)); p != "" {
		t.Fatalf("40 distinct keys: %s", p)
	}
	for _, dup := range []string{`"k0":1`, `"k16":1`, `"k39":1`, `"k\u0031":1`} {
		if p := scanProblem(obj(dup)); p != ProblemDuplicateKey {
			t.Errorf("duplicate %s in a large object: got %q", dup, p)
		}
	}
}

// TestScanner_RecordsMembers checks the spans of the recorded levels and
// that keys are recorded decoded.
func TestScanner_RecordsMembers(t *testing.T) {
	t.Parallel()
	in := `{"a":1,"p":{"n\u0061me":"x","m":{"v":[1,{"deep":2}]}},"z":[{"no":1}]}`
	s := newScanner([]byte(in))
	if err := s.scan(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range s.members {
		got = append(got, fmt.Sprintf("%d:%s=%s", m.parent, s.keyBytes(m.key), s.data[m.start:m.end]))
	}
	want := []string{
		`-1:a=1`,
		`-1:p={"n\u0061me":"x","m":{"v":[1,{"deep":2}]}}`,
		`1:name="x"`,
		`1:m={"v":[1,{"deep":2}]}`,
		`3:v=[1,{"deep":2}]`,
		`-1:z=[{"no":1}]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members:\n got %q\nwant %q", got, want)
	}
}

func TestAppendUnescaped_MatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`"plain"`, `"\u0041\u00e9\u20ac"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800"`,
		`"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\ud83d\u0000"`, `"\"\\\/\b\f\n\r\t"`, `"a\ud800"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got := stringValue([]byte(in)); got != want {
			t.Errorf("stringValue(%s) = %q, encoding/json %q", in, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	if got := clip("short"); got != `"short"` {
		t.Errorf("clip(short) = %s", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes; a cut must not split a rune
	got := clip(long)
	if !strings.HasSuffix(got, `"...`) || len(got) > snippetLimit+5 || strings.Contains(got, `\x`) {
		t.Errorf("clip(long) = %s", got)
	}
}

// extraRejections are the problems the scanner reports on input
// encoding/json may accept: documented stricter rules, not disagreements.
var extraRejections = map[Problem]bool{ProblemDuplicateKey: true, ProblemTooDeep: true, ProblemInvalidUTF8: true}

// FuzzScannerAgreesWithEncodingJSON: for any input, the scanner accepts it
// exactly when json.Valid does, except for the extra rejections; and for an
// accepted object, the keys it records are the keys encoding/json decodes.
func FuzzScannerAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,2.5e-3,true,null]}}}`,
		`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `"\ud800\udc00"`, "\"\xff\"", `[1,2,]`, `{"a":1}{"b":2}`, `-0.0e+0`, `01`,
		"\xef\xbb\xbf{}", ` [ ] `, `{"k":"\u00e9"}`, strings.Repeat("[", 70) + strings.Repeat("]", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newScanner(data)
		err := s.scan()
		valid := json.Valid(data)
		switch {
		case err == nil && !valid:
			t.Fatalf("scanner accepts what encoding/json rejects: %q", data)
		case err != nil && valid && !extraRejections[err.Problem]:
			t.Fatalf("scanner rejects (%v) what encoding/json accepts: %q", err, data)
		case err != nil:
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil || obj == nil {
			return // not an object
		}
		var keys []string
		for i, m := range s.members {
			if m.parent == rootParent {
				key := string(s.keyBytes(m.key))
				keys = append(keys, key)
				if string(obj[key]) != string(s.valueBytes(i)) {
					t.Fatalf("key %q: scanner span %s, encoding/json %s", key, s.valueBytes(i), obj[key])
				}
			}
		}
		if len(keys) != len(obj) {
			t.Fatalf("scanner recorded %d top-level keys, encoding/json %d: %q", len(keys), len(obj), data)
		}
	})
}
