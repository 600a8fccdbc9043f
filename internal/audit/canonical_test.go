package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// The fast encoder must produce exactly what encoding/json + JCS produce,
// and its output must be a fixed point of JCS (the verifier re-canonicalizes).
func checkCanonical(t *testing.T, ev *Event) {
	t.Helper()
	fast, err := ev.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	slow, err := slowCanonical(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast, slow) {
		t.Fatalf("canonical encodings differ:\nfast %s\nslow %s", fast, slow)
	}
	again, err := jcs.Transform(fast)
	if err != nil || !bytes.Equal(again, fast) {
		t.Fatalf("not a JCS fixed point: %v\n%s\n%s", err, fast, again)
	}
	back, canon, err := ParseEvent(fast)
	if err != nil || !bytes.Equal(canon, fast) || (utf8.ValidString(ev.ID) && back.ID != ev.ID) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestCanonical_MatchesJSONPlusJCS(t *testing.T) {
	t.Parallel()
	weird := []string{"", "plain", "<tag>&amp;", "quote\" back\\slash", "\x00\x01\x1f\x7f", "\b\t\n\f\r",
		"\u2028\u2029", "€ 😀 דּ", "bad \xff utf8 \xc3", "\u00e9"}
	for i, s := range weird {
		ev := sampleEvent(t, i)
		ev.User, ev.Tool, ev.Reason, ev.Chain, ev.Redactions = s, s+"x", s, []string{s, "a"}, []string{s}
		ev.Time = time.Date(2026, 1, 2, 3, 4, 5, i*123, time.FixedZone("", 3600*i))
		ev.Arguments = json.RawMessage(`{"b":1.0,"a":[1e21,"<"]}`)
		ev.Seq, ev.LatencyMicros, ev.InstanceID = uint64(i)*1e9, int64(-i), "gw-"+s
		ev.InputHash = "sha256:" + s
		checkCanonical(t, ev)
	}
	checkCanonical(t, &Event{ID: "x", InstanceID: "y"})
}

func FuzzCanonical(f *testing.F) {
	f.Add("dr-alice", "read_chart", "tools/call", uint64(7), int64(12), "\u2028<>", 0)
	f.Add("\xff\xfe", "", "\x00", uint64(1<<53), int64(-5), "", 3600)
	f.Fuzz(func(t *testing.T, user, tool, method string, seq uint64, lat int64, extra string, zone int) {
		if seq > maxSafeInt || lat > maxSafeInt || lat < -maxSafeInt {
			t.Skip()
		}
		ev := &Event{V: 1, ID: "id-" + extra, Kind: KindDecision, InstanceID: "i", Seq: seq, User: user, Tool: tool,
			Method: method, LatencyMicros: lat, Chain: []string{extra, user}, Outcome: extra,
			Time: time.Unix(int64(seq%1e10), int64(lat%1e9+1e9)%1e9).In(time.FixedZone("", zone%86400))}
		if utf8.ValidString(extra) && len(extra) > 0 {
			ev.ContextRefs = []string{extra}
		}
		checkCanonical(t, ev)
	})
}
