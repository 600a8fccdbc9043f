package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/actiongate/actiongate/internal/audit"
)

// AuditConfig is where decision and outcome events go (docs/audit.md).
// Auditing is on: a gateway that runs extauthz or extproc needs a spool
// directory and brokers, or `disabled: true` said out loud.
type AuditConfig struct {
	Disabled bool `yaml:"disabled"`
	// SpoolDir holds this instance's durable log (one instance per dir).
	SpoolDir   string `yaml:"spoolDir"`
	InstanceID string `yaml:"instanceID"`
	// MaxBytes bounds the spool (default 1 GiB); when it is full, mutating
	// calls are denied (audit_unavailable).
	MaxBytes          int64         `yaml:"maxBytes"`
	GroupCommitWindow time.Duration `yaml:"groupCommitWindow"`
	// ReadOnlyContinue lets read-only calls proceed unrecorded when the
	// spool is full.
	ReadOnlyContinue bool `yaml:"readOnlyContinue"`
	// RecordArguments puts tool arguments in events (off: hashed only).
	RecordArguments bool `yaml:"recordArguments"`

	Brokers         []string `yaml:"brokers"`
	Topic           string   `yaml:"topic"`
	CheckpointTopic string   `yaml:"checkpointTopic"`
	// SigningKeyFile holds the instance's checkpoint key (`actiongate audit
	// keygen`); required with a checkpoint topic. SigningKey is for
	// programs (the quickstart), never from YAML.
	SigningKeyFile     string        `yaml:"signingKeyFile"`
	SigningKey         string        `yaml:"-"`
	CheckpointInterval time.Duration `yaml:"checkpointInterval"`
	// AutoCreateTopics lets the broker create missing topics (dev only).
	AutoCreateTopics bool `yaml:"autoCreateTopics"`
	// StoreDir keeps policy bundles, registry versions and decision inputs
	// for `actiongate audit replay` (docs/audit-replay.md). Empty: decisions
	// are audited but cannot be replayed.
	StoreDir string `yaml:"storeDir"`
}

func (c AuditConfig) problems() []string {
	if c.Disabled {
		return nil
	}
	var p []string
	if c.SpoolDir == "" {
		p = append(p, "audit.spoolDir: required (or audit.disabled: true, which leaves calls unrecorded)")
	}
	if len(c.Brokers) == 0 {
		p = append(p, "audit.brokers: required: events are shipped to Kafka")
	}
	if c.CheckpointTopic != "" && c.SigningKeyFile == "" && c.SigningKey == "" {
		p = append(p, "audit.signingKeyFile: required with a checkpoint topic (actiongate audit keygen)")
	}
	return p
}

// startAudit opens the spool (replaying what a previous run left) and
// starts the shipper. It is shared by extauthz and extproc in this process.
func (a *App) startAudit(ctx context.Context) error {
	c := a.cfg.Audit
	if c.Disabled {
		a.log.Warn("audit disabled: decisions and outcomes are not recorded")
		return nil
	}
	sp, err := audit.OpenSpool(audit.SpoolOptions{Dir: c.SpoolDir, InstanceID: c.InstanceID, MaxBytes: c.MaxBytes,
		GroupCommitWindow: c.GroupCommitWindow, Logger: a.log.With("component", "audit")})
	if err != nil {
		return fmt.Errorf("audit spool %s: %w", c.SpoolDir, err)
	}
	a.closers = append(a.closers, func() { _ = sp.Close() })
	var signer note.Signer
	if c.CheckpointTopic != "" {
		key := []byte(c.SigningKey)
		if len(key) == 0 {
			if key, err = os.ReadFile(c.SigningKeyFile); err != nil {
				return fmt.Errorf("audit signing key: %w", err)
			}
		}
		if signer, err = audit.ParseSigner(key); err != nil {
			return fmt.Errorf("audit signing key %s: %w", filepath.Base(c.SigningKeyFile), err)
		}
		if want := audit.Origin(sp.InstanceID()); signer.Name() != want {
			return fmt.Errorf("audit signing key is named %q but this instance's log is %q", signer.Name(), want)
		}
	}
	sh, err := audit.NewShipper(audit.ShipperOptions{Spool: sp, Brokers: c.Brokers, Topic: c.Topic,
		CheckpointTopic: c.CheckpointTopic, Signer: signer, CheckpointInterval: c.CheckpointInterval,
		AutoCreateTopics: c.AutoCreateTopics, Logger: a.log.With("component", "audit-shipper")})
	if err != nil {
		return fmt.Errorf("audit shipper: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sh.Run(sctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("audit shipper stopped", "error", err)
		}
	}()
	// Closers run in reverse: the shipper stops before the spool closes.
	a.closers = append(a.closers, func() { cancel(); <-done })
	a.spool, a.shipper = sp, sh
	a.log.Info("audit: spool open", "instance", sp.InstanceID(), "dir", c.SpoolDir, "topic", c.Topic)
	return nil
}
