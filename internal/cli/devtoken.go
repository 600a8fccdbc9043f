package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/devidp"
)

const devUsage = "usage: actiongate dev token --user U --agent A [--tenant T] [--issuer URL] [--secret S] [--audience AUD]"

// Dev runs development helpers. `dev token` prints a delegated access
// token (sub = the user, act.sub = the agent, aud = the gateway) obtained
// over HTTP from the dev IdP the quickstart runs, so that
//
//	curl -H "Authorization: Bearer $(actiongate dev token --user dr-alice --agent note-summarizer)" ...
//
// works. Only the token goes to stdout, on one line.
func Dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "token" {
		return errors.New(devUsage)
	}
	return devToken(ctx, args[1:], stdout, stderr)
}

func devToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user subject the token is for (required)")
	agent := fs.String("agent", "", "agent (OAuth client id) acting for the user (required)")
	tenant := fs.String("tenant", "", "one of the user's tenants (default: the user's configured tenant)")
	issuer := fs.String("issuer", devidp.DefaultIssuer, "issuer URL of the dev IdP")
	secret := fs.String("secret", "", "agent client secret (default: the PUBLIC dev secret dev-secret-<agent>)")
	audience := fs.String("audience", devidp.DefaultAudience, "audience (the gateway's resource identifier)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var missing []string
	if *user == "" {
		missing = append(missing, "--user")
	}
	if *agent == "" {
		missing = append(missing, "--agent")
	}
	if len(missing) > 0 || fs.NArg() > 0 {
		return fmt.Errorf("missing %s or unexpected arguments\n%s", strings.Join(missing, " and "), devUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tok, err := devidp.Request{
		Issuer: *issuer, User: *user, Agent: *agent, AgentSecret: *secret, Tenant: *tenant, Audience: *audience,
	}.Token(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
