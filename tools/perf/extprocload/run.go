package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type runOptions struct {
	load       driveOptions
	rounds     int
	registry   string
	scenarios  string
	profileDir string
}

// runAll is the one-command comparison: for each round it starts the null
// server and ActionGate's ext_proc as child processes of this binary (each
// alone, so /proc/<pid>/stat holds only its CPU), drives every scenario
// against each, and prints the rows and the medians over rounds.
func runAll(args []string, stdout, stderr io.Writer) error {
	var o runOptions
	fs := flag.NewFlagSet("extprocload run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addLoadFlags(fs, &o.load)
	fs.IntVar(&o.rounds, "rounds", 3, "repetitions (the machine may be shared: the table gives medians and ranges)")
	fs.StringVar(&o.registry, "registry", "examples/registry", "registry directory for the ActionGate server")
	fs.StringVar(&o.scenarios, "scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios")
	fs.StringVar(&o.profileDir, "cpuprofile-dir", "", "write each server's CPU profile here (MODE-rN.pprof); profiling costs a little CPU itself")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	scenarios := strings.Split(o.scenarios, ",")
	for _, s := range scenarios {
		if _, err := newScenario(s); err != nil {
			return err
		}
	}
	if _, err := os.Stat(o.registry); err != nil {
		return fmt.Errorf("-registry: %w (run from the repository root or pass -registry)", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "extprocload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	ctx := context.Background()
	sc, _ := newScenario(scenarioClean)
	reqBytes, respBytes := sc.sizes()
	fmt.Fprintf(stdout, "%s, %d CPUs, %s, %s\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Fprintf(stdout, "tools/call %s/%s: request body %d B, result %d B; %d streams, %d exchanges per row after %d warm-up\n\n",
		perfServer, perfTool, reqBytes, respBytes, o.load.concurrency, o.load.total, o.load.warmup)
	fmt.Fprint(stdout, "| round | "+columns+"\n|---:|"+alignment+"\n")

	var all []result
	for round := 1; round <= o.rounds; round++ {
		modes := []string{modeNull, modeActionGate}
		if round%2 == 0 {
			modes = []string{modeActionGate, modeNull} // neither always runs first
		}
		for _, mode := range modes {
			rs, err := runServer(ctx, self, work, o, mode, round, scenarios)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, mode, err)
			}
			for _, r := range rs {
				fmt.Fprintf(stdout, "| %d %s\n", round, r.row())
			}
			all = append(all, rs...)
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, summary(all, scenarios, o.rounds))
	return nil
}

// runServer starts one server process, measures every scenario against it
// and stops it.
func runServer(ctx context.Context, self, work string, o runOptions, mode string, round int, scenarios []string) ([]result, error) {
	addrFile := filepath.Join(work, fmt.Sprintf("%s-r%d.addr", mode, round))
	logPath := filepath.Join(work, fmt.Sprintf("%s-r%d.log", mode, round))
	args := []string{"serve", "-mode", mode, "-registry", o.registry, "-addr-file", addrFile}
	if o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(o.profileDir, fmt.Sprintf("%s-r%d.pprof", mode, round)))
	}
	child, err := startChild(self, args, addrFile, logPath)
	if err != nil {
		return nil, err
	}
	var rs []result
	for _, s := range scenarios {
		lo := o.load
		lo.target, lo.pid, lo.metricsURL = child.grpc, child.cmd.Process.Pid, child.metrics
		lo.expect, lo.scenario, lo.serverLabel = mode, s, mode
		r, err := measure(ctx, lo)
		if err != nil {
			child.stop()
			return nil, fmt.Errorf("%s: %w%s", s, err, logTail(logPath))
		}
		rs = append(rs, r)
	}
	if err := child.stop(); err != nil {
		return nil, fmt.Errorf("stopping the server: %w%s", err, logTail(logPath))
	}
	return rs, nil
}

type child struct {
	cmd           *exec.Cmd
	done          chan error
	grpc, metrics string
	log           *os.File
}

// startChild runs this binary in serve mode and waits for its address file.
func startChild(self string, args []string, addrFile, logPath string) (*child, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	// The server logs like `actiongate serve` does (text, info), to a
	// file: a finding's log line is part of what redaction costs.
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan error, 1), log: lf}
	go func() { c.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil {
			for line := range strings.Lines(string(b)) {
				k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
				switch k {
				case "grpc":
					c.grpc = v
				case "metrics":
					c.metrics = v
				}
			}
			if c.grpc == "" {
				c.stop()
				return nil, fmt.Errorf("address file %s has no grpc= line", addrFile)
			}
			return c, nil
		}
		select {
		case err := <-c.done:
			lf.Close()
			return nil, fmt.Errorf("server exited before listening (%v)%s", err, logTail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("server not listening within 30s%s", logTail(logPath))
		}
	}
}

// stop asks the server to end (SIGTERM, so a CPU profile is flushed) and
// kills it if it does not within ten seconds.
func (c *child) stop() error {
	defer c.log.Close()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("server ignored SIGTERM; killed")
	}
}

// logTail is the end of a server log, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nserver log (tail):\n" + string(b)
}

// summary gives, per scenario, the median over rounds of each server's CPU
// per exchange and of the per-round ratio, with the range, so the noise of
// a shared machine is visible.
func summary(all []result, scenarios []string, rounds int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Median of %d rounds (min–max). Ratio: ActionGate CPU / null CPU, per round. Target ≤ 2×.\n\n", rounds)
	b.WriteString("| scenario | null CPU µs/ex | ActionGate CPU µs/ex | ratio | null p50 / p99 | ActionGate p50 / p99 | null allocs/ex | ActionGate allocs/ex |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range scenarios {
		pick := func(mode string) []result {
			var rs []result
			for _, r := range all {
				if r.server == mode && r.scenario == s {
					rs = append(rs, r)
				}
			}
			return rs
		}
		null, ag := pick(modeNull), pick(modeActionGate)
		if len(null) == 0 || len(null) != len(ag) {
			continue
		}
		field := func(rs []result, f func(result) float64) []float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return v
		}
		cpu := func(r result) float64 { return r.cpuUS }
		ratios := make([]float64, len(null))
		for i := range null {
			ratios[i] = ag[i].cpuUS / null[i].cpuUS
		}
		lat := func(rs []result) string {
			p50 := median(field(rs, func(r result) float64 { return float64(r.p50) }))
			p99 := median(field(rs, func(r result) float64 { return float64(r.p99) }))
			return ms(time.Duration(p50)) + " / " + ms(time.Duration(p99))
		}
		allocs := func(r result) float64 { return r.allocs }
		verdict := "meets"
		if median(ratios) > 2 {
			verdict = "misses"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s (%s) | %s | %s | %s | %s |\n", s,
			spread(field(null, cpu), 1), spread(field(ag, cpu), 1), spread(ratios, 2), verdict,
			lat(null), lat(ag), num(median(field(null, allocs)), 0), num(median(field(ag, allocs)), 0))
	}
	return b.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64, prec int) string {
	if len(v) == 1 {
		return num(v[0], prec)
	}
	return fmt.Sprintf("%s (%s–%s)", num(median(v), prec), num(slices.Min(v), prec), num(slices.Max(v), prec))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
