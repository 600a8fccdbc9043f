package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestJSONToAST(t *testing.T) {
	t.Parallel()
	valid := []string{
		`{}`, `[]`, `{"a":1}`, ` { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] } `,
		`{"esc":"a\"b\\c\u00e9\ud83d\ude00\n"}`, `{"n":0}`, `{"n":-0.0}`, `{"n":1E9}`,
		`{"nested":{"deep":{"er":[{"k":"v"}]}}}`, `"str"`, `12345678901234567890123`,
	}
	for _, in := range valid {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			got, err := jsonToAST([]byte(in))
			if err != nil {
				t.Fatalf("jsonToAST: %v", err)
			}
			want := referenceAST(t, []byte(in))
			if got.Compare(want) != 0 {
				t.Errorf("jsonToAST = %v, want %v", got, want)
			}
		})
	}
	invalid := []string{
		``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"a":1 "b":2}`, `{"a":1}x`, `01`, `1.`, `1e`, `-`,
		`.5`, `+1`, `tru`, `nul`, `"unterminated`, "\"ctl\x01\"", `"bad\escape"`, `{"a":1,"a":2}`,
		`{'a':1}`, `NaN`, "\"\xff\"", `{"a":"\ud800"}x`,
	}
	for _, in := range invalid {
		t.Run("invalid "+in, func(t *testing.T) {
			t.Parallel()
			if v, err := jsonToAST([]byte(in)); err == nil {
				t.Errorf("jsonToAST(%q) = %v, want an error", in, v)
			}
		})
	}
}

func TestJSONToAST_DepthAndManyKeys(t *testing.T) {
	t.Parallel()
	deep := bytes.Repeat([]byte("["), maxArgumentDepth+2)
	if _, err := jsonToAST(append(deep, bytes.Repeat([]byte("]"), maxArgumentDepth+2)...)); err == nil {
		t.Error("excessive nesting accepted")
	}
	// Many keys, with the duplicate last: exercises the map path.
	var b bytes.Buffer
	b.WriteString("{")
	for i := range 100 {
		b.WriteString(`"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1,`)
	}
	b.WriteString(`"kaa":2}`)
	if _, err := jsonToAST(b.Bytes()); err == nil {
		t.Error("duplicate key among 100 accepted")
	}
}

// referenceAST is what OPA would build from encoding/json's reading.
func referenceAST(t testing.TB, data []byte) ast.Value {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("reference decode: %v", err)
	}
	av, err := ast.InterfaceToValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return av
}

// FuzzJSONToAST: whatever encoding/json accepts (without duplicate keys),
// jsonToAST reads identically; whatever it refuses, jsonToAST refuses.
func FuzzJSONToAST(f *testing.F) {
	for _, s := range []string{`{"symbol":"ACME","quantity":10}`, `[1,"a",{"b":null}]`, `"\u00e9"`, `-1.5e-3`, `{"a":{"a":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := jsonToAST(data)
		var ref any
		refErr := decodeStrictJSONInto(data, &ref)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("jsonToAST err = %v, strict reference err = %v, input %q", err, refErr, data)
		}
		if err != nil {
			return
		}
		want, convErr := ast.InterfaceToValue(ref)
		if convErr != nil {
			t.Fatal(convErr)
		}
		if got.Compare(want) != 0 {
			t.Fatalf("jsonToAST = %v, reference %v, input %q", got, want, data)
		}
	})
}

// decodeStrictJSONInto is the data.json decoder (encoding/json tokens,
// duplicate keys refused): the independent reference for jsonToAST.
func decodeStrictJSONInto(data []byte, out *any) error {
	v, err := decodeStrictJSON(data)
	if err == nil {
		*out = v
	}
	return err
}
