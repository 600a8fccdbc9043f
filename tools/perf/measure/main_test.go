package main

import (
	"strings"
	"testing"
)

func TestParseReport(t *testing.T) {
	t.Parallel()
	ok := `{"count":3,"rps":1500.5,"statusCodeDistribution":{"OK":3},"errorDistribution":{},
		"latencyDistribution":[{"percentage":50,"latency":250000},{"percentage":99,"latency":900000}]}`
	r, err := parseReport([]byte(ok), 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.percentile(50) != 250000 || r.percentile(99) != 900000 || r.RPS != 1500.5 {
		t.Errorf("report = %+v", r)
	}
	for name, bad := range map[string]string{
		"errors":   `{"count":3,"statusCodeDistribution":{"OK":2,"Unavailable":1},"errorDistribution":{"rpc error":1}}`,
		"short":    `{"count":2,"statusCodeDistribution":{"OK":2}}`,
		"not json": `ghz: boom`,
	} {
		if _, err := parseReport([]byte(bad), 3); err == nil || strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: accepted", name)
		}
	}
}
