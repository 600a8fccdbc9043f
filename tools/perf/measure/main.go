// Command measure load-tests one running ext_authz server with ghz and
// prints one markdown table row: throughput and latency as ghz saw them,
// and what each Check cost the server: CPU time (utime+stime of its process
// from /proc/<pid>/stat, so the load generator's own CPU is excluded) and
// heap allocations (go_memstats_mallocs_total / alloc_bytes_total from its
// Prometheus endpoint). run.sh drives it; see tools/perf/README.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/actiongate/actiongate/tools/perf/internal/procsample"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

type options struct {
	name, target, dataFile, protoset, ghz, metricsURL string
	pid, concurrency, total, warmup                   int
	header                                            bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.header, "header", false, "print the table header and exit")
	fs.StringVar(&o.name, "name", "", "row label")
	fs.IntVar(&o.pid, "pid", 0, "server process id (its CPU time is measured)")
	fs.StringVar(&o.metricsURL, "metrics", "", "server's Prometheus endpoint with Go runtime metrics (empty: no allocation figures)")
	fs.StringVar(&o.target, "target", "", "server's gRPC address")
	fs.StringVar(&o.dataFile, "data-file", "", "CheckRequest JSON (gencheck)")
	fs.StringVar(&o.protoset, "protoset", "", "protoset for ghz (gencheck -protoset)")
	fs.StringVar(&o.ghz, "ghz", "ghz", "ghz binary")
	fs.IntVar(&o.concurrency, "c", 8, "concurrent requests")
	fs.IntVar(&o.total, "n", 20000, "measured requests")
	fs.IntVar(&o.warmup, "warmup", 2000, "requests before measuring (JIT-free, but caches, pools and the heap settle)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.header {
		fmt.Fprintln(stdout, "| server | checks | req/s | p50 | p99 | CPU µs/check | allocs/check | bytes/check |")
		fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|---:|---:|")
		return nil
	}
	if o.name == "" || o.pid == 0 || o.target == "" || o.dataFile == "" {
		return errors.New("-name, -pid, -target and -data-file are required")
	}
	row, err := measure(context.Background(), o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, row)
	return nil
}

func measure(ctx context.Context, o options) (string, error) {
	if err := waitReachable(ctx, o.target, time.Minute); err != nil {
		return "", err
	}
	if _, err := ghz(ctx, o, o.warmup); err != nil {
		return "", fmt.Errorf("warm-up: %w", err)
	}
	before, err := snapshot(ctx, o)
	if err != nil {
		return "", err
	}
	rep, err := ghz(ctx, o, o.total)
	if err != nil {
		return "", err
	}
	after, err := snapshot(ctx, o)
	if err != nil {
		return "", err
	}
	n := float64(rep.Count)
	cpu := float64(after.CPUTicks-before.CPUTicks) / procsample.UserHZ / n * 1e6
	allocs, bytesPer := "n/a", "n/a"
	if o.metricsURL != "" {
		// The scrape between the snapshots allocates a little too; over
		// thousands of checks it is noise.
		allocs = fmt.Sprintf("%.0f", (after.Mallocs-before.Mallocs)/n)
		bytesPer = fmt.Sprintf("%.0f", (after.AllocBytes-before.AllocBytes)/n)
	}
	return fmt.Sprintf("| %s | %d | %.0f | %s | %s | %.1f | %s | %s |", o.name, rep.Count, rep.RPS,
		ms(rep.percentile(50)), ms(rep.percentile(99)), cpu, allocs, bytesPer), nil
}

// waitReachable polls until something accepts connections on addr: a
// server started by the caller may still be loading its configuration.
func waitReachable(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable within %v: %w", addr, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ms(ns int64) string { return fmt.Sprintf("%.2f ms", float64(ns)/1e6) }

// report is the part of ghz's JSON output we read.
type report struct {
	Count       int64            `json:"count"`
	RPS         float64          `json:"rps"`
	StatusCodes map[string]int64 `json:"statusCodeDistribution"`
	Errors      map[string]int64 `json:"errorDistribution"`
	Latency     []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"` // ns
	} `json:"latencyDistribution"`
}

func (r report) percentile(p int) int64 {
	for _, l := range r.Latency {
		if l.Percentage == p {
			return l.Latency
		}
	}
	return 0
}

func ghz(ctx context.Context, o options, n int) (report, error) {
	args := []string{"--insecure", "--call", "envoy.service.auth.v3.Authorization/Check",
		"--data-file", o.dataFile, "-c", strconv.Itoa(o.concurrency), "-n", strconv.Itoa(n),
		"--format", "json", "--timeout", "10s"}
	if o.protoset != "" {
		args = append(args, "--protoset", o.protoset)
	}
	args = append(args, o.target)
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, o.ghz, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return report{}, fmt.Errorf("ghz: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	return parseReport(out.Bytes(), int64(n))
}

// parseReport refuses a run with any error or non-OK status: a figure from
// a server that failed some checks is not a figure.
func parseReport(data []byte, want int64) (report, error) {
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return report{}, fmt.Errorf("ghz output: %w", err)
	}
	if len(r.Errors) > 0 || r.StatusCodes["OK"] != want || r.Count != want {
		return report{}, fmt.Errorf("ghz: %d of %d calls OK (status %v, errors %v)", r.StatusCodes["OK"], want, r.StatusCodes, r.Errors)
	}
	return r, nil
}

func snapshot(ctx context.Context, o options) (procsample.Sample, error) {
	return procsample.Take(ctx, o.pid, o.metricsURL)
}
