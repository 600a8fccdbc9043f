package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/actiongate/actiongate/extproc"
	"github.com/actiongate/actiongate/internal/inject"
	"github.com/actiongate/actiongate/internal/outguard"
	"github.com/actiongate/actiongate/internal/redact"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/tools/perf/internal/perfserver"
)

// Server modes.
const (
	modeActionGate = "actiongate"
	modeNull       = "null"
)

type serveOptions struct {
	mode, registryDir, cpuProfile string
}

// serve runs one ext_proc server until SIGTERM: run as its own process so
// that its CPU time is what /proc/<pid>/stat shows.
func serve(args []string, stderr io.Writer) int {
	var o serveOptions
	return perfserver.Main("extprocload serve", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&o.mode, "mode", modeActionGate, "actiongate (extproc.New with the production output policy) or null (empty CONTINUE answers)")
		fs.StringVar(&o.registryDir, "registry", "examples/registry", "registry directory (actiongate mode)")
		fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run here")
	}, func(ctx context.Context, f perfserver.Flags, log *slog.Logger) error {
		register, err := processor(o, log)
		if err != nil {
			return err
		}
		if o.cpuProfile != "" {
			pf, err := os.Create(o.cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(pf); err != nil {
				pf.Close()
				return err
			}
			defer func() {
				pprof.StopCPUProfile()
				if err := pf.Close(); err != nil {
					log.Error("writing CPU profile", "error", err)
				}
			}()
		}
		return perfserver.Run(ctx, f, log, register)
	})
}

// processor builds the ext_proc service of the chosen mode.
func processor(o serveOptions, log *slog.Logger) (func(*grpc.Server), error) {
	switch o.mode {
	case modeNull:
		return func(g *grpc.Server) { extprocv3.RegisterExternalProcessorServer(g, nullProcessor{}) }, nil
	case modeActionGate:
		s, err := actionGate(o.registryDir, log)
		if err != nil {
			return nil, err
		}
		return s.Register, nil
	}
	return nil, fmt.Errorf("-mode %q: want %s or %s", o.mode, modeActionGate, modeNull)
}

// actionGate is ext_proc as `actiongate serve` builds it with the default
// configuration (internal/app: Start and DefaultOutput), less what a
// tools/call never touches (tool-drift observation, registry polling).
func actionGate(registryDir string, log *slog.Logger) (*extproc.Server, error) {
	if registryDir == "" {
		return nil, errors.New("actiongate mode needs -registry")
	}
	reg, err := registry.Load(registryDir)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", registryDir, err)
	}
	guard, err := productionGuard()
	if err != nil {
		return nil, err
	}
	return extproc.New(extproc.Options{
		Logger:       log,
		MaxBodyBytes: 1 << 20, // app.Default().MaxRequestBytes
		Registerer:   prometheus.NewRegistry(),
		Registry:     func() *registry.Registry { return reg },
		Guard:        guard,
	}), nil
}

// productionGuard is what app.DefaultOutput().guard() compiles (that
// function is unexported): every finding kind at its default action
// (mask), injected instructions neutralized from a score of 0.5, tool
// calls refused when their arguments score 0.8. Kept in step by hand; the
// test checks it redacts and neutralizes.
func productionGuard() (*outguard.Guard, error) {
	neutralize, err := inject.ParseAction("neutralize")
	if err != nil {
		return nil, err
	}
	return outguard.New(outguard.Config{
		Redaction: redact.Config{
			Actions:     map[redact.Kind]redact.Action{},
			RuleActions: map[string]redact.Action{},
		},
		ByClassification: map[string]map[redact.Kind]redact.Action{},
		Injection:        inject.Policies{{Threshold: 0.5, Action: neutralize}},
		ArgumentsBlockAt: 0.8,
	})
}
