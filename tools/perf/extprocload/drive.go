package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/actiongate/actiongate/tools/perf/internal/procsample"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type driveOptions struct {
	target     string
	pid        int
	metricsURL string
	// expect is the server kind whose answers are checked (expectFor).
	expect                     string
	scenario                   string
	concurrency, total, warmup int
	timeout                    time.Duration
	serverLabel                string
	printHeader                bool
}

// result is one measured phase against one server.
type result struct {
	server, scenario string
	exchanges        int
	wall             time.Duration
	p50, p99         time.Duration
	cpuUS            float64 // server CPU per exchange
	allocs, bytes    float64 // per exchange; NaN without a metrics endpoint
}

func (r result) rate() float64 { return float64(r.exchanges) / r.wall.Seconds() }

func drive(args []string, stdout, stderr io.Writer) error {
	var o driveOptions
	fs := flag.NewFlagSet("extprocload drive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.printHeader, "header", false, "print the table header first")
	fs.StringVar(&o.target, "target", "", "ext_proc server's gRPC address")
	fs.IntVar(&o.pid, "pid", 0, "server process id (its utime+stime is the CPU measured)")
	fs.StringVar(&o.metricsURL, "metrics", "", "server's Prometheus endpoint with Go runtime metrics (empty: no allocation figures)")
	fs.StringVar(&o.expect, "expect", modeActionGate, "answers to check for: actiongate (BUFFERED override, redaction) or null")
	fs.StringVar(&o.scenario, "scenario", scenarioClean, "clean or secrets (an email address and an AWS key id in the result)")
	fs.StringVar(&o.serverLabel, "name", "", "row label (default: -expect)")
	addLoadFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.target == "" || o.pid == 0 {
		return errors.New("-target and -pid are required")
	}
	if o.serverLabel == "" {
		o.serverLabel = o.expect
	}
	r, err := measure(context.Background(), o)
	if err != nil {
		return err
	}
	if o.printHeader {
		fmt.Fprint(stdout, rowHeader)
	}
	fmt.Fprintln(stdout, r.row())
	return nil
}

func addLoadFlags(fs *flag.FlagSet, o *driveOptions) {
	fs.IntVar(&o.concurrency, "c", 8, "concurrent streams")
	fs.IntVar(&o.total, "n", 20000, "measured exchanges")
	fs.IntVar(&o.warmup, "warmup", 2000, "exchanges before measuring (caches, pools and the heap settle)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on one exchange")
}

// The columns of one measured row, and their alignment.
const (
	columns   = "server | scenario | exchanges | ex/s | p50 | p99 | CPU µs/ex | allocs/ex | KiB/ex |"
	alignment = "---|---|---:|---:|---:|---:|---:|---:|---:|"
	rowHeader = "| " + columns + "\n|" + alignment + "\n"
)

func (r result) row() string {
	return fmt.Sprintf("| %s | %s | %d | %.0f | %s | %s | %.1f | %s | %s |", r.server, r.scenario, r.exchanges,
		r.rate(), ms(r.p50), ms(r.p99), r.cpuUS, num(r.allocs, 0), num(r.bytes/1024, 1))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// measure warms up, then runs o.total exchanges and reads the server's CPU
// time (and heap allocations) before and after.
func measure(ctx context.Context, o driveOptions) (result, error) {
	sc, err := newScenario(o.scenario)
	if err != nil {
		return result{}, err
	}
	if o.concurrency < 1 || o.total < 1 || o.warmup < 0 {
		return result{}, errors.New("-c and -n must be positive, -warmup not negative")
	}
	conn, err := grpc.NewClient(o.target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	client := extprocv3.NewExternalProcessorClient(conn)
	want := expectFor(o.expect, sc)
	if o.warmup > 0 {
		if _, err := load(ctx, client, sc, want, o.concurrency, o.warmup, o.timeout); err != nil {
			return result{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	before, err := snapshot(ctx, o.pid, o.metricsURL)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	lat, err := load(ctx, client, sc, want, o.concurrency, o.total, o.timeout)
	if err != nil {
		return result{}, err
	}
	wall := time.Since(start)
	after, err := snapshot(ctx, o.pid, o.metricsURL)
	if err != nil {
		return result{}, err
	}
	n := float64(len(lat))
	slices.Sort(lat)
	r := result{
		server: o.serverLabel, scenario: o.scenario, exchanges: len(lat), wall: wall,
		p50: percentile(lat, 0.50), p99: percentile(lat, 0.99),
		cpuUS:  float64(after.CPUTicks-before.CPUTicks) / procsample.UserHZ / n * 1e6,
		allocs: math.NaN(), bytes: math.NaN(),
	}
	if o.metricsURL != "" {
		// The scrape between the snapshots allocates a little too; over
		// thousands of exchanges it is noise.
		r.allocs = (after.Mallocs - before.Mallocs) / n
		r.bytes = (after.AllocBytes - before.AllocBytes) / n
	}
	return r, nil
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// load runs total exchanges on concurrency streams at a time and returns
// each one's latency. The first failure stops the run: a figure from a
// server that failed some exchanges is not a figure.
func load(ctx context.Context, client extprocv3.ExternalProcessorClient, sc *scenario, want expect,
	concurrency, total int, timeout time.Duration) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	lats := make([][]time.Duration, concurrency)
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			mine := make([]time.Duration, 0, total/concurrency+1)
			for next.Add(1) <= int64(total) && ctx.Err() == nil {
				d, err := exchange(ctx, client, sc, want, timeout)
				if err != nil {
					cancel(err)
					return
				}
				mine = append(mine, d)
			}
			lats[w] = mine
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return slices.Concat(lats...), nil
}

// exchange runs one ext_proc stream the way Envoy does for one tools/call:
// each message waits for its answer, and once the last is answered the
// stream is half-closed and the server's end awaited, so the server's work
// for it is done when this returns. The latency is from opening the stream
// to the last answer: what the HTTP exchange waited for ext_proc.
func exchange(ctx context.Context, client extprocv3.ExternalProcessorClient, sc *scenario, want expect,
	timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	stream, err := client.Process(ctx)
	if err != nil {
		return 0, fmt.Errorf("open stream: %w", err)
	}
	for i, msg := range sc.msgs {
		if err := stream.Send(msg); err != nil {
			return 0, fmt.Errorf("send message %d: %w", i, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			return 0, fmt.Errorf("answer to message %d: %w", i, err)
		}
		if err := checkAnswer(i, resp, want); err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	if err := stream.CloseSend(); err != nil {
		return 0, fmt.Errorf("close stream: %w", err)
	}
	if resp, err := stream.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			return 0, fmt.Errorf("unexpected message after the exchange: %T", resp.GetResponse())
		}
		return 0, fmt.Errorf("stream end: %w", err)
	}
	return d, nil
}

func snapshot(ctx context.Context, pid int, metricsURL string) (procsample.Sample, error) {
	return procsample.Take(ctx, pid, metricsURL)
}
