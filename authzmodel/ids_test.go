package authzmodel

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

// spiceDBObjectID is SpiceDB's own object id pattern (authzed-go's
// generated validation), without the wildcard.
var spiceDBObjectID = regexp.MustCompile(`^[a-zA-Z0-9/_|\-=+]{1,}$`)

func TestObjectID(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"dr-alice", "dr-alice"},
		{"ehr/read_chart", "ehr/read_chart"},
		{"Trader_Bob|2+x", "Trader_Bob|2+x"},
		{"dr.alice@stmarys.example", "dr=2Ealice=40stmarys=2Eexample"},
		{"*", "=2A"},
		{"a=b", "a=3Db"},
		{"=2A", "=3D2A"},
		{"Clinical Staff", "Clinical=20Staff"},
		{"ü", "=C3=BC"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := ObjectID(tc.in); got != tc.want {
				t.Fatalf("ObjectID(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestObjectID_PlainDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = ObjectID("dr-alice") }); n != 0 {
		t.Fatalf("ObjectID of a plain id allocates %v times", n)
	}
}

// unescape inverts ObjectID; that it exists is what makes ObjectID
// injective.
func unescape(id string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		if id[i] != '=' {
			b.WriteByte(id[i])
			continue
		}
		if i+2 >= len(id) {
			return "", false
		}
		v, err := hex.DecodeString(id[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}

func FuzzObjectID(f *testing.F) {
	for _, s := range []string{"dr-alice", "a@b.c", "*", "=", "=3D", "ehr/read_chart", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id := ObjectID(s)
		if s == "" {
			if id != "" {
				t.Fatalf("ObjectID(\"\") = %q", id)
			}
			return
		}
		if !spiceDBObjectID.MatchString(id) {
			t.Fatalf("ObjectID(%q) = %q is not a SpiceDB object id", s, id)
		}
		if back, ok := unescape(id); !ok || back != s {
			t.Fatalf("ObjectID(%q) = %q does not decode back (%q, %v)", s, id, back, ok)
		}
	})
}
