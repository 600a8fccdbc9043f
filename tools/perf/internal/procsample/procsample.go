// Package procsample reads what the perf tools compare between servers: a
// process's CPU time from /proc and its Go allocation counters from its
// Prometheus endpoint.
package procsample

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// UserHZ is the kernel's clock tick for /proc CPU times (USER_HZ, 100 on
// Linux).
const UserHZ = 100

// Sample is one reading of a server process.
type Sample struct {
	CPUTicks            int64
	Mallocs, AllocBytes float64
}

// Take reads pid's CPU ticks and, when metricsURL is set, its Go
// allocation counters.
func Take(ctx context.Context, pid int, metricsURL string) (Sample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Sample{}, err
	}
	var s Sample
	if s.CPUTicks, err = CPUTicks(string(stat)); err != nil {
		return Sample{}, err
	}
	if metricsURL == "" {
		return s, nil
	}
	text, err := fetch(ctx, metricsURL)
	if err != nil {
		return Sample{}, err
	}
	if s.Mallocs, err = Metric(text, "go_memstats_mallocs_total"); err != nil {
		return Sample{}, err
	}
	if s.AllocBytes, err = Metric(text, "go_memstats_alloc_bytes_total"); err != nil {
		return Sample{}, err
	}
	return s, nil
}

// CPUTicks is utime+stime (fields 14 and 15) of a /proc/<pid>/stat line.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func CPUTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return utime + stime, nil
}

func fetch(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return string(b), err
}

// Metric reads an unlabelled sample from Prometheus text exposition.
func Metric(text, name string) (float64, error) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		return strconv.ParseFloat(strings.TrimSpace(rest), 64)
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
