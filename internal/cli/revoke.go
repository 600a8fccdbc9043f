package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/app"
	"github.com/actiongate/actiongate/internal/drill"
	"github.com/actiongate/actiongate/internal/registry"
)

const revokeUsage = `usage: actiongate revoke user|agent|session SUBJECT [--reason TEXT] [--lift]
                         [--admin URL] [--token-file FILE | --token-env NAME]

Revokes (or, with --lift, restores) a user, an agent or a session on every
replica: the command returns once every live replica enforces it, and fails
naming the replicas that did not confirm`

// Revoke is `actiongate revoke`.
func Revoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		return errors.New(revokeUsage)
	}
	kind, subject := args[0], args[1]
	fs := flag.NewFlagSet("revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reason := fs.String("reason", "", "why (recorded with the revocation; never a credential)")
	lift := fs.Bool("lift", false, "end an earlier revocation instead")
	a := adminFlags(fs)
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	switch kind {
	case "user", "agent", "session":
	default:
		return errors.New(revokeUsage)
	}
	token, err := a.token()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"kind": kind, "subject": subject, "reason": *reason, "lift": *lift})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*a.url, "/")+"/v1/revocations", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rec app.ReceiptView
	if json.Unmarshal(raw, &rec) != nil {
		return fmt.Errorf("admin API: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	verb := "revoked"
	if *lift {
		verb = "lifted the revocation of"
	}
	names := make([]string, 0, len(rec.Confirmed))
	for n := range rec.Confirmed {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f ms", n, float64(rec.Confirmed[n])/1000))
	}
	fmt.Fprintf(stdout, "%s %s %s: confirmed by %d replica(s) [%s]; command took %s\n", verb, kind, subject,
		len(rec.Confirmed), strings.Join(parts, ", "), time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != http.StatusOK || !rec.Enforced {
		return fmt.Errorf("not enforced everywhere (HTTP %d): missing %v: %s", resp.StatusCode, rec.Missing, rec.Error)
	}
	return nil
}

type adminOpts struct {
	url, tokenFile, tokenEnv *string
}

func adminFlags(fs *flag.FlagSet) adminOpts {
	return adminOpts{
		url:       fs.String("admin", "http://127.0.0.1:9901", "the admin API"),
		tokenFile: fs.String("token-file", "", "file holding the admin token (the quickstart writes one)"),
		tokenEnv:  fs.String("token-env", "ACTIONGATE_ADMIN_TOKEN", "environment variable holding the admin token"),
	}
}

func (a adminOpts) token() (string, error) {
	if *a.tokenFile != "" {
		b, err := os.ReadFile(*a.tokenFile)
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if t := os.Getenv(*a.tokenEnv); t != "" {
		return t, nil
	}
	if b, err := os.ReadFile(quickstartTokenFile()); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	return "", fmt.Errorf("no admin token: set %s or --token-file", *a.tokenEnv)
}

// Drill is `actiongate drill offboard`.
func Drill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "offboard" {
		return errors.New("usage: actiongate drill offboard --user USER [--gateway URL] [--admin URL] [--idp URL] [--registry DIR] [--keep] [--json]")
	}
	fs := flag.NewFlagSet("drill offboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the user to offboard (required)")
	others := fs.String("others", "", "comma-separated users whose traffic must be undisturbed (default: two from the registry)")
	gateway := fs.String("gateway", "http://127.0.0.1:10000", "the data plane")
	idp := fs.String("idp", "http://127.0.0.1:9400", "the development OpenID Provider (tokens for the drill's traffic)")
	regDir := fs.String("registry", "examples/registry", "the registry the deployment serves")
	keep := fs.Bool("keep", false, "leave the user revoked (default: lift the revocation at the end)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	a := adminFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("drill offboard: --user is required")
	}
	token, err := a.token()
	if err != nil {
		return err
	}
	reg, err := registry.Load(*regDir)
	if err != nil {
		return err
	}
	o := drill.Options{Gateway: *gateway, Admin: *a.url, AdminToken: token, IdP: *idp, Registry: reg, User: *user,
		Keep: *keep, Progress: stderr}
	if *others != "" {
		o.Others = strings.Split(*others, ",")
	}
	rep, err := drill.Offboard(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printDrill(stdout, rep)
	}
	if !rep.Pass {
		return errors.New("drill failed: " + strings.Join(rep.Problems, "; "))
	}
	return nil
}

func printDrill(w io.Writer, r drill.Report) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "Offboarding drill: %s (agent %s, %s/%s)\n", r.User, r.Agent, r.Server, r.Tool)
	fmt.Fprintf(w, "  revoke command returned:          %s (%d replica(s) confirmed", ms(r.RevokeReturned), r.Replicas)
	if len(r.Missing) > 0 {
		fmt.Fprintf(w, "; missing: %s", strings.Join(r.Missing, ", "))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "  user's first refused call:        %s after the revoke was sent (target %s)\n", ms(r.FirstDenied), drill.Target)
	if r.StreamEnded >= 0 {
		fmt.Fprintf(w, "  user's open SSE stream ended:     %s after the revoke was sent\n", ms(r.StreamEnded))
	} else {
		fmt.Fprintf(w, "  user's open SSE stream:           none (server %s keeps no standalone stream)\n", r.Server)
	}
	fmt.Fprintf(w, "  user's calls: %d before, %d refused after, %d allowed after confirmation\n", r.CallsBefore, r.DeniedAfter, r.AllowedAfterConfirm)
	for _, o := range r.Others {
		fmt.Fprintf(w, "  other user %-14s %4d calls on %-10s %d errors\n", o.User, o.Calls, o.Server, o.Errors)
	}
	if r.Lifted {
		fmt.Fprintln(w, "  revocation lifted at the end (--keep leaves it)")
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + strings.Join(r.Problems, "; ")
	}
	fmt.Fprintln(w, "  result:", verdict)
}
