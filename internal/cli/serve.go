package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/actiongate/actiongate/internal/app"
)

// Serve runs the services named in the config (or --services) until ctx
// ends or one of them fails.
func Serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, err := serveConfig(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-a.Err():
		return err
	}
}

// serveConfig reads --config, then applies the flags that were set on top:
// flags override the file, the file overrides defaults.
func serveConfig(args []string, stderr io.Writer) (app.Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (defaults: single host on loopback)")
	services := fs.String("services", "", "comma-separated services to run: xds,extauthz,extproc,meta,admin")
	reg := fs.String("registry", "", "registry directory")
	xdsListen := fs.String("xds-listen", "", "xDS (ADS) gRPC listen address")
	authzListen := fs.String("extauthz-listen", "", "ext_authz gRPC listen address")
	procListen := fs.String("extproc-listen", "", "ext_proc gRPC listen address")
	adminListen := fs.String("admin-listen", "", "admin HTTP listen address (/metrics, /healthz, /readyz)")
	metaListen := fs.String("meta-listen", "", "protected-resource metadata HTTP listen address (reached through Envoy)")
	dpPort := fs.Uint("data-plane-port", 0, "port of the data plane's MCP listener (published over xDS)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	logFormat := fs.String("log-format", "", "text or json")
	auditSpool := fs.String("audit-spool", "", "audit spool directory (this instance's durable log)")
	auditBrokers := fs.String("audit-brokers", "", "comma-separated Kafka brokers the audit log is shipped to")
	auditKey := fs.String("audit-key", "", "the instance's checkpoint signing key file (actiongate audit keygen)")
	auditInstance := fs.String("audit-instance", "", "audit instance id (default: the one recorded in the spool)")
	auditOff := fs.Bool("audit-disabled", false, "run without an audit trail (calls are not recorded; never in production)")
	revOff := fs.Bool("revocation-disabled", false, "run without the shared revocation channel (single-process tests only)")
	credKeys := fs.String("credentials-keys", "", "directory of the signing keys for minted upstream tokens")
	credIssuer := fs.String("credentials-issuer", "", "issuer of minted tokens: the admin API's public URL")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, err
	}
	if fs.NArg() > 0 {
		return app.Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := app.Default()
	if *path != "" {
		var err error
		// Validated below, once the flags have had their say.
		if cfg, err = app.DecodeConfig(*path); err != nil {
			return cfg, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	if set["services"] {
		cfg.Services = strings.Split(*services, ",")
	}
	override("registry", &cfg.Registry.Dir, *reg)
	override("xds-listen", &cfg.XDS.Listen, *xdsListen)
	override("extauthz-listen", &cfg.ExtAuthz.Listen, *authzListen)
	override("extproc-listen", &cfg.ExtProc.Listen, *procListen)
	override("admin-listen", &cfg.Admin.Listen, *adminListen)
	override("meta-listen", &cfg.Meta.Listen, *metaListen)
	override("log-level", &cfg.Log.Level, *logLevel)
	override("log-format", &cfg.Log.Format, *logFormat)
	if set["data-plane-port"] {
		cfg.XDS.DataPlane.ListenPort = uint32(*dpPort)
	}
	override("audit-spool", &cfg.Audit.SpoolDir, *auditSpool)
	override("audit-key", &cfg.Audit.SigningKeyFile, *auditKey)
	override("audit-instance", &cfg.Audit.InstanceID, *auditInstance)
	if set["audit-brokers"] {
		cfg.Audit.Brokers = strings.Split(*auditBrokers, ",")
	}
	override("credentials-keys", &cfg.Credentials.KeysDir, *credKeys)
	override("credentials-issuer", &cfg.Credentials.Issuer, *credIssuer)
	if set["revocation-disabled"] {
		cfg.Revocation.Disabled = *revOff
	}
	if set["audit-disabled"] {
		cfg.Audit.Disabled = *auditOff
	}
	return cfg, cfg.Validate()
}
