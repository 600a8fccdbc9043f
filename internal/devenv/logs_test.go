package devenv

import (
	"strings"
	"sync"
	"testing"
)

func TestLogsKeepsTheTail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		limit   int
		writes  []string
		want    string
		dropped bool
	}{
		{"under limit", 10, []string{"abc", "def"}, "abcdef", false},
		{"exactly full", 6, []string{"abc", "def"}, "abcdef", false},
		{"wraps once", 6, []string{"abcd", "efgh"}, "cdefgh", true},
		{"wraps many times", 4, []string{"ab", "cd", "ef", "gh", "i"}, "fghi", true},
		{"single write larger than limit", 4, []string{"0123456789"}, "6789", true},
		{"large write into partly full ring", 5, []string{"ab", "cdefghij"}, "fghij", true},
		{"empty", 4, nil, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := NewLogs(tc.limit)
			for _, w := range tc.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := string(l.Bytes()); got != tc.want {
				t.Fatalf("Bytes() = %q, want %q", got, tc.want)
			}
			s := l.String()
			if !strings.HasSuffix(s, tc.want) || strings.Contains(s, "dropped") != tc.dropped {
				t.Fatalf("String() = %q, want suffix %q with dropped note %v", s, tc.want, tc.dropped)
			}
			if got := l.Tail(2); len(tc.want) >= 2 && got != tc.want[len(tc.want)-2:] {
				t.Fatalf("Tail(2) = %q", got)
			}
		})
	}
}

func TestLogsConcurrentWriters(t *testing.T) {
	t.Parallel()
	l := NewLogs(1 << 10)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				_, _ = l.Write([]byte("0123456789\n"))
			}
		})
	}
	wg.Wait()
	b := l.Bytes()
	if len(b) != 1<<10 {
		t.Fatalf("kept %d bytes, want %d", len(b), 1<<10)
	}
	// Whole writes were atomic, so every complete line is intact.
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[1 : len(lines)-1] {
		if line != "0123456789" {
			t.Fatalf("torn line %q", line)
		}
	}
}

func TestLogsZeroValue(t *testing.T) {
	t.Parallel()
	var l Logs
	_, _ = l.Write([]byte("hello"))
	if l.String() != "hello" {
		t.Fatalf("zero Logs = %q", l.String())
	}
}
