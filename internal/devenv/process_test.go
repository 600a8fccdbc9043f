package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStopKillsTheProcessGroup checks that a grandchild (what npm or a
// shell wrapper would leave behind) dies with the process we started.
func TestStopKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	p, err := startProcess(t.Context(), "sh", "", "/bin/sh", []string{"-c", "sleep 300 & echo child=$!; wait"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = poll(ctx, func(context.Context) error {
		_, after, ok := strings.Cut(p.logs.String(), "child=")
		if !ok {
			return errors.New("no child pid yet")
		}
		child, err = strconv.Atoi(strings.TrimSpace(after))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	err = poll(ctx, func(context.Context) error {
		if alive(child) {
			return fmt.Errorf("grandchild %d still alive", child)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func TestStopIsIdempotentAndEndsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	p, err := startProcess(ctx, "sleep", "", "/bin/sleep", []string{"300"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("process survived its context")
	}
	p.stop()
	p.stop()
}

type recordTB struct{ skipped, failed bool }

func (r *recordTB) Helper()               {}
func (r *recordTB) Skipf(string, ...any)  { r.skipped = true }
func (r *recordTB) Fatalf(string, ...any) { r.failed = true }

func TestRequireDep(t *testing.T) {
	missing := fmt.Errorf("thing: %w", ErrNotInstalled)
	cases := []struct {
		name          string
		required      string
		err           error
		skip, failure bool
	}{
		{"present", "", nil, false, false},
		{"present in CI", "1", nil, false, false},
		{"missing locally", "", missing, true, false},
		{"missing with 0", "0", missing, true, false},
		{"missing in CI", "1", missing, false, true},
		{"broken", "", errors.New("permission denied"), false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvRequireDeps, tc.required)
			var r recordTB
			RequireDep(&r, "thing", tc.err)
			if r.skipped != tc.skip || r.failed != tc.failure {
				t.Fatalf("skipped=%v failed=%v, want %v %v", r.skipped, r.failed, tc.skip, tc.failure)
			}
		})
	}
}

func TestRetryPort(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fixed     int
		failures  int // leading errAddrInUse results
		wantCalls int
		wantErr   bool
	}{
		{"free port first try", 0, 0, 1, false},
		{"stolen twice then bound", 0, 2, 3, false},
		{"stolen every time", 0, 5, 3, true},
		{"fixed port is tried once", 4242, 5, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			ports := map[int]bool{}
			err := retryPort(tc.fixed, func(port int) error {
				calls++
				ports[port] = true
				if calls <= tc.failures {
					return fmt.Errorf("bind: %w", errAddrInUse)
				}
				return nil
			})
			if calls != tc.wantCalls || (err != nil) != tc.wantErr {
				t.Fatalf("calls=%d err=%v, want calls=%d err=%v", calls, err, tc.wantCalls, tc.wantErr)
			}
			if tc.fixed != 0 && !ports[tc.fixed] {
				t.Fatalf("fixed port %d not used: %v", tc.fixed, ports)
			}
		})
	}
}
