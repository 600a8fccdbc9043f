package devenv

import "testing"

// showLogsOnFailure prints a component's output when the test fails.
func showLogsOnFailure(t *testing.T, name string, logs *Logs) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs)
		}
	})
}
