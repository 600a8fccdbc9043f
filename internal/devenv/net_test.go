package devenv

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFreeAddrIsLoopbackAndBindable(t *testing.T) {
	t.Parallel()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("FreeAddr() = %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr's %s: %v", addr, err)
	}
	l.Close()
}

func TestWaitTCP(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := WaitTCP(ctx, l.Addr().String()); err != nil {
		t.Fatalf("WaitTCP on a listening port: %v", err)
	}

	closed, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	if err := WaitTCP(short, closed); err == nil || !strings.Contains(err.Error(), "last attempt") {
		t.Fatalf("WaitTCP on a closed port = %v, want a timeout naming the last attempt", err)
	}
}

func TestWaitHTTP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		ok     bool
	}{
		{"ok", http.StatusOK, true},
		{"not found still means up", http.StatusNotFound, true},
		{"server error is not ready", http.StatusServiceUnavailable, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if err := WaitHTTP(ctx, srv.URL); (err == nil) != tc.ok {
				t.Fatalf("WaitHTTP = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
