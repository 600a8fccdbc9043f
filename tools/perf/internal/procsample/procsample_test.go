package procsample

import "testing"

func TestCPUTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stat string
		want int64
		ok   bool
	}{
		{"plain", "4242 (plainopa) S 1 4242 4242 0 -1 4194560 2046 0 0 0 731 118 0 0 20 0 9 0 5318 1277 2845", 849, true},
		{"name with spaces and parens", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1", 11, true},
		{"truncated", "7 (x) R 1 2", 0, false},
		{"no name", "garbage", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := CPUTicks(tc.stat)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("CPUTicks = %d, %v; want %d, ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestMetric(t *testing.T) {
	t.Parallel()
	text := "# HELP go_memstats_mallocs_total Total.\n# TYPE go_memstats_mallocs_total counter\n" +
		"go_memstats_mallocs_total_extra 9\ngo_memstats_mallocs_total 1.234567e+06\n"
	if v, err := Metric(text, "go_memstats_mallocs_total"); err != nil || v != 1234567 {
		t.Errorf("Metric = %v, %v", v, err)
	}
	if _, err := Metric(text, "go_memstats_alloc_bytes_total"); err == nil {
		t.Error("missing metric found")
	}
}
