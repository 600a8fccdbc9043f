package contentstore

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore_InputPutGet(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{})
	a, err := s.Put(KindInput, []byte(`{"b": [1.0, 2e0], "a": "<x>"}`))
	if err != nil {
		t.Fatal(err)
	}
	// The same document written differently is the same object.
	b, err := s.RecordInput([]byte(`{"a":"\u003cx>","b":[1,2]}`))
	if err != nil || a != b {
		t.Fatalf("addresses %s and %s (%v)", a, b, err)
	}
	want := `{"a":"<x>","b":[1,2]}`
	if a != sha256Address([]byte(want)) {
		t.Errorf("address %s is not the SHA-256 of the canonical form", a)
	}
	got, err := s.LoadInput(a)
	if err != nil || string(got) != want {
		t.Fatalf("LoadInput = %s, %v", got, err)
	}
	path, _ := s.path(KindInput, a)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("input file mode %v, %v; want 0600", st.Mode(), err)
	}
	if st, _ := os.Stat(s.Dir()); st.Mode().Perm() != 0o700 {
		t.Errorf("store directory mode %v; want 0700", st.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("%d files next to the object (temporary files left?)", len(ents))
	}
}

func TestStore_GetRefusesTamperedAndMissing(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{NoSync: true})
	a, err := s.RecordInput([]byte(`{"call":{"arguments":{"amount":10}}}`))
	if err != nil {
		t.Fatal(err)
	}
	path, _ := s.path(KindInput, a)
	if err := os.WriteFile(path, []byte(`{"call":{"arguments":{"amount":99}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.LoadInput(a)
	tamperedHash := sha256Address([]byte(`{"call":{"arguments":{"amount":99}}}`))
	if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), tamperedHash) {
		t.Fatalf("tampered object: %v", err)
	}

	// Put repairs the object and keeps the damaged copy as evidence.
	if _, err := s.RecordInput([]byte(`{"call":{"arguments":{"amount":10}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadInput(a); err != nil {
		t.Fatalf("after repair: %v", err)
	}
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 1 {
		t.Errorf("damaged copy not kept: %v", m)
	}

	missing := sha256Address([]byte("nothing"))
	if _, err := s.LoadInput(missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing object: %v", err)
	}
	for _, bad := range []string{"", "sha256:../../etc/passwd", "sha256:" + strings.Repeat("A", 64), "md5:" + strings.Repeat("0", 64),
		"sha256:" + strings.Repeat("0", 63) + "g"} {
		if _, err := s.LoadInput(bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("address %q: %v", bad, err)
		}
	}
	if _, err := s.Put("secrets", []byte("{}")); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestStore_InputNumbersKeptExactly(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{NoSync: true})
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`{"q":10,"p":0.1,"x":1.0,"n":-0,"big":123456789012345}`, true},
		{`{"e":1e21,"f":2.5E-3,"s":"12345678901234567890123"}`, true},
		{`{"q":9007199254740993}`, false},          // 2^53+1 becomes ...992
		{`{"q":12345678901234567890}`, false},      // rounded by a double
		{`{"p":1.00000000000000001}`, false},       // becomes 1
		{`{"p":1e400}`, false},                     // out of range
		{`{"p":1e-400}`, false},                    // underflows to 0
		{`{"a":1,"a":2}`, false},                   // duplicate key: not I-JSON
		{`{"q":1234567890123456}`, true},           // 16 digits, exact in a double
		{`{"k":"\"12345678901234567890\""}`, true}, // digits inside a string
	} {
		_, err := s.RecordInput([]byte(tc.doc))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.doc, err, tc.ok)
		}
	}
}

func TestStore_ConcurrentPutsOfOneObject(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{})
	doc := []byte(`{"time":"2026-03-10T03:14:00Z"}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := s.RecordInput(doc); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a, _ := InputAddress(doc)
	path, _ := s.path(KindInput, a)
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("%d files for one object", len(ents))
	}
	if _, err := s.LoadInput(a); err != nil {
		t.Error(err)
	}
}

func BenchmarkRecordInput(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts Options
	}{{"fsync", Options{}}, {"nosync", Options{NoSync: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			s := openStore(b, tc.opts)
			doc := []byte(`{"agent":{"id":"trade-executor","owner":"et@northwind.example","tier":2},` +
				`"call":{"arguments":{"account":"ACC-7","quantity":10,"side":"buy","symbol":"ACME"},"method":"tools/call"},` +
				`"principal":{"agent":"trade-executor","chain":[],"groups":["desk-eq"],"iss":"https://idp.example","task":"t","tenant":"northwind","user":"bob"},` +
				`"registry_version":"sha256:00","server":{"classification":"confidential","id":"trading"},"time":"2026-03-04T15:00:00.000000000Z",` +
				`"tool":{"annotations":{"destructiveHint":true,"idempotentHint":false,"openWorldHint":true,"readOnlyHint":false},"name":"place_trade","risk":"high"}}`)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// A distinct document each time, as decisions differ in time.
				d := append(doc[:len(doc)-1:len(doc)-1], `,"n":`+strconv.Itoa(i)+`}`...)
				if _, err := s.RecordInput(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
