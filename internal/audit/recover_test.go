package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSpool_RecoversTornTail writes a log, damages it the ways a crash in
// the middle of a write can, and checks the spool reopens with every intact
// record, cuts and counts the torn one, and continues the chain.
func TestSpool_RecoversTornTail(t *testing.T) {
	t.Parallel()
	const n = 10
	cases := []struct {
		name string
		seg  int64 // SegmentBytes; 0 = one segment
		// damage breaks the spool in dir and returns how many events survive.
		damage func(t *testing.T, dir string) uint64
	}{
		{"cut inside the last payload", 0, func(t *testing.T, dir string) uint64 {
			truncateBy(t, lastSegment(t, dir), 10)
			return n - 1
		}},
		{"cut inside the last frame header", 0, func(t *testing.T, dir string) uint64 {
			path := lastSegment(t, dir)
			truncateTo(t, path, lastFrameOffset(t, path)+3)
			return n - 1
		}},
		{"checksum mismatch in the last record", 0, func(t *testing.T, dir string) uint64 {
			path := lastSegment(t, dir)
			flipByte(t, path, fileSize(t, path)-1)
			return n - 1
		}},
		{"partial frame appended", 0, func(t *testing.T, dir string) uint64 {
			appendBytes(t, lastSegment(t, dir), []byte{0, 0, 1, 0, 0xde})
			return n
		}},
		{"zero-filled tail", 0, func(t *testing.T, dir string) uint64 {
			appendBytes(t, lastSegment(t, dir), make([]byte, 4096))
			return n
		}},
		{"new segment with a torn header", 0, func(t *testing.T, dir string) uint64 {
			hb, err := encodeHeader(segHeader{InstanceID: "gw-r", FirstSeq: n})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, segName(n)), hb[:len(hb)/2], 0o600); err != nil {
				t.Fatal(err)
			}
			return n
		}},
		{"torn record in a rotated segment", 1200, func(t *testing.T, dir string) uint64 {
			segs := segments(t, dir)
			if len(segs) < 3 {
				t.Fatalf("want ≥ 3 segments, have %d", len(segs))
			}
			// The second segment lost its tail; everything after it was
			// written later, so none of it was acknowledged.
			truncateBy(t, segs[1], 7)
			return countFrames(t, segs[0]) + countFrames(t, segs[1])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-r", SegmentBytes: tc.seg})
			appendN(t, s, 0, n)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			want := tc.damage(t, dir)

			s2 := openSpool(t, dir, SpoolOptions{InstanceID: "gw-r"})
			st := s2.Stats()
			if st.Next != want || st.TruncatedRecords != 1 || st.TruncatedBytes == 0 {
				t.Fatalf("recovered %+v; want next %d and one torn record cut", st, want)
			}
			appendN(t, s2, n, 3)
			if r := Verify(entriesOf(t, s2, 0), nil, nil); !r.OK() || r.Instances[0].Contiguous != want+3 {
				t.Fatalf("recovered log does not verify: %+v", r)
			}
			s2.Close()
			s3 := openSpool(t, dir, SpoolOptions{})
			if st := s3.Stats(); st.TruncatedRecords != 0 || st.Next != want+3 {
				t.Fatalf("second reopen: %+v", st)
			}
		})
	}
}

func lastSegment(t *testing.T, dir string) string {
	segs := segments(t, dir)
	return segs[len(segs)-1]
}

func lastFrameOffset(t *testing.T, path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var off, last int64
	for _, rec := range splitFrames(t, data) {
		last = off
		off += int64(frameHeader + len(rec))
	}
	return last
}

// countFrames counts the event records (not the header) of a segment.
func countFrames(t *testing.T, path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(len(splitFrames(t, data)) - 1)
}

func truncateBy(t *testing.T, path string, n int64) { truncateTo(t, path, fileSize(t, path)-n) }

func truncateTo(t *testing.T, path string, size int64) {
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}
