// Package perfserver is the scaffolding the load-test ext_authz servers
// share, so that they differ only in their Check: a gRPC listener with
// health and reflection (ghz can call them without a protoset), and an HTTP
// listener with /metrics (Go runtime metrics, for allocations per Check).
// The chosen addresses go to a file, so a script can start several servers
// on random ports without racing for fixed ones.
package perfserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Flags are the options every perf server takes.
type Flags struct {
	Listen      string
	DebugListen string
	AddrFile    string
}

// Register adds the common flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Listen, "listen", "127.0.0.1:0", "gRPC listen address (port 0: pick a free one)")
	fs.StringVar(&f.DebugListen, "debug-listen", "127.0.0.1:0", "HTTP listen address for /metrics")
	fs.StringVar(&f.AddrFile, "addr-file", "", "write \"grpc=ADDR\\nmetrics=URL\\n\" here once listening")
}

// Run serves until ctx ends or SIGINT/SIGTERM arrives. register adds the
// service under test to the gRPC server.
func Run(ctx context.Context, f Flags, log *slog.Logger, register func(*grpc.Server)) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	gl, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return err
	}
	dl, err := net.Listen("tcp", f.DebugListen)
	if err != nil {
		gl.Close()
		return err
	}
	g := grpc.NewServer()
	register(g)
	healthpb.RegisterHealthServer(g, health.NewServer())
	reflection.Register(g)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- g.Serve(gl) }()
	go func() { errc <- hs.Serve(dl) }()
	metricsURL := "http://" + dl.Addr().String() + "/metrics"
	if f.AddrFile != "" {
		if err := writeAddrFile(f.AddrFile, gl.Addr().String(), metricsURL); err != nil {
			g.Stop()
			hs.Close()
			return err
		}
	}
	log.Info("serving", "grpc", gl.Addr().String(), "metrics", metricsURL)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	g.Stop()
	_ = hs.Close()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

// writeAddrFile writes atomically, so a reader never sees half a file.
func writeAddrFile(path, grpcAddr, metricsURL string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "grpc=%s\nmetrics=%s\n", grpcAddr, metricsURL), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Main parses args with the common flags plus those extra adds, then calls
// run. It is what each perf server's main does.
func Main(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet), run func(context.Context, Flags, *slog.Logger) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f Flags
	f.Register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("server", name)
	if err := run(context.Background(), f, log); err != nil {
		log.Error("exiting", "error", err)
		return 1
	}
	return 0
}
