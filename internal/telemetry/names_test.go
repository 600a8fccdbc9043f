package telemetry

import "testing"

func TestSpanName(t *testing.T) {
	cases := []struct {
		method, tool string
		withTarget   bool
		want         string
	}{
		{"tools/call", "get_quote", true, "tools/call get_quote"},
		{"tools/call", "get_quote", false, "tools/call"},
		{"tools/call", "", true, "tools/call"},
		{"tools/list", "ignored", true, "tools/list"},
		{"notifications/cancelled", "", true, "notifications/cancelled"},
		{"GET", "", true, "GET"},
		{"", "", true, "mcp"},
		{"made/up-by-the-agent", "", true, "mcp"},
		{"TOOLS/CALL", "x", true, "mcp"},
		{"tools/call", string(make([]byte, maxTargetLen+1)), true, "tools/call"},
	}
	for _, tc := range cases {
		if got := spanName(tc.method, tc.tool, tc.withTarget); got != tc.want {
			t.Errorf("spanName(%q, %.10q, %v) = %q, want %q", tc.method, tc.tool, tc.withTarget, got, tc.want)
		}
		if !nameIs(tc.want, tc.method, tc.tool, tc.withTarget) {
			t.Errorf("nameIs(%q, %q, %.10q, %v) = false", tc.want, tc.method, tc.tool, tc.withTarget)
		}
		for _, other := range []string{"mcp", "tools/call", "tools/call get_quotes", "tools/call get_quot", "tools/callXget_quote"} {
			if other != tc.want && nameIs(other, tc.method, tc.tool, tc.withTarget) {
				t.Errorf("nameIs(%q, %q, %.10q, %v) = true; the name is %q", other, tc.method, tc.tool, tc.withTarget, tc.want)
			}
		}
	}
}

func TestErrorType(t *testing.T) {
	for in, want := range map[string]string{
		"policy_denied": "policy_denied", "-32602": "-32602", "502": "502", "a.b-c": "a.b-c",
		"Policy Denied": "_OTHER", "x y": "_OTHER", `"quoted"`: "_OTHER", string(make([]byte, 65)): "_OTHER",
	} {
		if got := errorType(in); got != want {
			t.Errorf("errorType(%.12q) = %q, want %q", in, got, want)
		}
	}
}
