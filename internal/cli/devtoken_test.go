package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/actiongate/actiongate/internal/devidp"
)

func TestDevToken(t *testing.T) {
	t.Parallel()
	idp, err := devidp.Start(context.Background(), devidp.Options{
		Users:  []devidp.User{{Subject: "dr-alice", Tenant: "st-marys"}, {Subject: "trader-bob", Tenant: "northwind"}},
		Agents: []devidp.Agent{{ClientID: "note-summarizer"}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Stop)
	cases := []struct {
		name    string
		args    []string
		code    int
		errText string
	}{
		{"token", []string{"--user", "dr-alice", "--agent", "note-summarizer"}, 0, ""},
		{"explicit secret and tenant", []string{"--user", "dr-alice", "--agent", "note-summarizer", "--secret", "dev-secret-note-summarizer", "--tenant", "st-marys"}, 0, ""},
		{"unknown user", []string{"--user", "mallory", "--agent", "note-summarizer"}, 1, `unknown user "mallory" (known users: dr-alice, trader-bob)`},
		{"unknown agent", []string{"--user", "dr-alice", "--agent", "rogue"}, 1, `unknown agent "rogue" (known agents: note-summarizer)`},
		{"wrong secret", []string{"--user", "dr-alice", "--agent", "note-summarizer", "--secret", "guess"}, 1, "rejected its client secret"},
		{"foreign tenant", []string{"--user", "dr-alice", "--agent", "note-summarizer", "--tenant", "northwind"}, 1, `not a member of tenant "northwind"`},
		{"missing flags", nil, 1, "missing --user and --agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"dev", "token", "--issuer", idp.Issuer}, tc.args...)
			code, out, errOut := run(args...)
			if code != tc.code || !strings.Contains(errOut, tc.errText) {
				t.Fatalf("exit %d stderr %q; want %d and %q", code, errOut, tc.code, tc.errText)
			}
			if tc.code != 0 {
				if out != "" {
					t.Errorf("stdout on failure: %q", out)
				}
				return
			}
			tok := strings.TrimSuffix(out, "\n")
			if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \t") {
				t.Errorf("stdout is not exactly one token line: %q", out)
			}
		})
	}
	if code, _, errOut := run("dev"); code != 1 || !strings.Contains(errOut, "usage: actiongate dev token") {
		t.Errorf("dev without subcommand: %d %q", code, errOut)
	}
}
