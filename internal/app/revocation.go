package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/revocation"
	"github.com/actiongate/actiongate/internal/signals"
)

// RevocationConfig: emergency revocation of users, agents and sessions,
// shared by every replica through Kafka (docs/revocation.md).
type RevocationConfig struct {
	Disabled bool `yaml:"disabled"`
	// Brokers default to audit.brokers.
	Brokers  []string `yaml:"brokers"`
	Topic    string   `yaml:"topic"`
	AckTopic string   `yaml:"ackTopic"`
	// ReplicaID names this process in acknowledgements (default: the
	// audit instance id, else the host name).
	ReplicaID string `yaml:"replicaID"`
	// Timeout the admin API waits for every live replica to confirm.
	Timeout time.Duration `yaml:"timeout"`
	// SSF transmitters and the SCIM client allowed to revoke users.
	SSF  []SSFConfig `yaml:"ssf"`
	SCIM *SCIMConfig `yaml:"scim"`
}

// SSFConfig is one Shared Signals transmitter (docs/deprovisioning.md).
type SSFConfig struct {
	Name           string   `yaml:"name"`
	Issuer         string   `yaml:"issuer"`
	JWKSURL        string   `yaml:"jwksURL"`
	Audience       string   `yaml:"audience"`
	BearerTokenEnv string   `yaml:"bearerTokenEnv"`
	SubjectIssuers []string `yaml:"subjectIssuers"`
}

// SCIMConfig is the SCIM client (an IdP's provisioning connector).
type SCIMConfig struct {
	BearerTokenEnv string `yaml:"bearerTokenEnv"`
	Issuer         string `yaml:"issuer"`
	// BearerToken is for programs (the test harness), never from YAML.
	BearerToken string `yaml:"-"`
}

func (c RevocationConfig) topics() (string, string) {
	t, at := c.Topic, c.AckTopic
	if t == "" {
		t = revocation.DefaultTopic
	}
	if at == "" {
		at = revocation.DefaultAckTopic
	}
	return t, at
}

func (c RevocationConfig) brokers(audit AuditConfig) []string {
	if len(c.Brokers) > 0 {
		return c.Brokers
	}
	return audit.Brokers
}

// startRevocation joins the revocation channel before the services serve:
// a replica that starts knows every revocation in force before it answers
// its first request. Each record then drops the caches that could still
// admit the subject and ends its live exchanges.
func (a *App) startRevocation(ctx context.Context) error {
	c := a.cfg.Revocation
	if c.Disabled {
		a.log.Warn("revocation channel disabled: revoking needs a restart of every replica")
		return nil
	}
	brokers := c.brokers(a.cfg.Audit)
	if len(brokers) == 0 {
		return errors.New("revocation: no brokers (set revocation.brokers or audit.brokers, or revocation.disabled: true)")
	}
	id := c.ReplicaID
	if id == "" {
		id = a.cfg.Audit.InstanceID
	}
	if id == "" {
		h, _ := os.Hostname()
		id = h
	}
	topic, ackTopic := c.topics()
	if err := revocation.EnsureTopics(ctx, brokers, topic, ackTopic); err != nil {
		return fmt.Errorf("revocation topics: %w", err)
	}
	node, err := revocation.Start(ctx, revocation.NodeOptions{Brokers: brokers, Topic: topic, AckTopic: ackTopic,
		ReplicaID: id, State: a.revState, Apply: a.applyRevocation, Logger: a.log.With("component", "revocation")})
	if err != nil {
		return fmt.Errorf("revocation: %w", err)
	}
	select {
	case <-node.Ready():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("revocation: did not catch up with the revocation topic within 30s")
	}
	a.revNode = node
	a.log.Info("revocation channel joined", "replica", id, "in_force", a.revState.Len())
	return nil
}

// applyRevocation runs on every replica for every record, after the local
// state already refuses the subject: what is left is to forget what was
// verified or checked before, and to end what is in flight.
func (a *App) applyRevocation(_ context.Context, r revocation.Revocation) error {
	if r.Lifted {
		return nil
	}
	match := func(user, agent, session string) bool {
		switch r.Kind {
		case revocation.KindUser:
			return user == r.Subject
		case revocation.KindAgent:
			return agent == r.Subject
		case revocation.KindSession:
			return session == r.Subject
		}
		return false
	}
	a.live.Lock()
	verifier, authz, ep := a.live.verifier, a.live.authz, a.live.extproc
	a.live.Unlock()
	if verifier != nil {
		verifier.Invalidate(func(p principal.Principal) bool {
			if r.Kind == revocation.KindAgent {
				for _, act := range p.Chain {
					if act.Subject == r.Subject {
						return true
					}
				}
			}
			return match(p.User, p.Agent, "")
		})
	}
	if authz != nil && r.ZedToken != "" {
		authz.ObserveZedToken(r.ZedToken)
	}
	if ep != nil {
		n := ep.EndStreams(match)
		a.log.Info("revocation applied", "kind", string(r.Kind), "subject", r.Subject, "exchanges_ended", n)
	}
	return nil
}

// revokeRequest is the admin API's body.
type revokeRequest struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
	Lift    bool   `json:"lift"`
}

// revoke does everything a revocation needs once, on the replica that
// received it, then publishes it and waits for every live replica:
// SpiceDB relationships (whose ZedToken travels with the record) and the
// user's brokered credentials (deleted here, revoked at the providers).
func (a *App) revoke(ctx context.Context, r revocation.Revocation) (revocation.Receipt, error) {
	if a.revNode == nil {
		return revocation.Receipt{}, errors.New("the revocation channel is not running in this process")
	}
	var err error
	if a.authz != nil {
		switch {
		case r.Kind == revocation.KindUser && !r.Lifted:
			r.ZedToken, err = a.authz.RevokeUser(ctx, r.Subject)
		case r.Kind == revocation.KindUser:
			r.ZedToken, err = a.authz.LiftUser(ctx, r.Subject)
		case r.Kind == revocation.KindAgent && !r.Lifted:
			r.ZedToken, err = a.authz.RevokeAgent(ctx, r.Subject)
		case r.Kind == revocation.KindAgent:
			r.ZedToken, err = a.authz.LiftAgent(ctx, r.Subject)
		}
		if err != nil {
			// The topic still carries the revocation; SpiceDB is defence
			// in depth. Say so rather than fail the emergency stop.
			a.log.Error("revocation: SpiceDB write failed; enforcement relies on the revocation channel", "error", err)
		}
	}
	if a.broker != nil && r.Kind == revocation.KindUser && !r.Lifted && a.Watcher != nil {
		for _, t := range a.Watcher.Current().Tenants {
			res, err := a.broker.RevokeUser(ctx, t.ID, r.Subject)
			if err != nil {
				a.log.Error("revocation: brokered credentials", "tenant", t.ID, "error", err)
			}
			for _, pr := range res {
				if pr.Err != nil {
					a.log.Warn("revocation: provider did not confirm token revocation (local copy deleted)",
						"provider", pr.Provider, "error", pr.Err)
				}
			}
		}
	}
	topic, ackTopic := a.cfg.Revocation.topics()
	opts := revocation.RevokeOptions{Brokers: a.cfg.Revocation.brokers(a.cfg.Audit), Topic: topic,
		AckTopic: ackTopic, Timeout: a.cfg.Revocation.Timeout, Logger: a.log.With("component", "revocation")}
	if r.Lifted {
		return revocation.Lift(ctx, opts, r)
	}
	return revocation.Revoke(ctx, opts, r)
}

// revocationsHandler is POST /v1/revocations on the admin API.
func (a *App) revocationsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := a.requireAdmin(req); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="actiongate-admin"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var body revokeRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r := revocation.Revocation{ID: revocation.NewID(), Kind: revocation.Kind(body.Kind), Subject: body.Subject,
			Reason: body.Reason, Source: revocation.SourceAdmin, Issuer: "admin-api", At: time.Now().UTC(), Lifted: body.Lift}
		if err := r.Validate(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec, err := a.revoke(req.Context(), r)
		status := http.StatusOK
		if err != nil {
			status = http.StatusGatewayTimeout
			if rec.PublishedAt.IsZero() {
				status = http.StatusServiceUnavailable
			}
			a.log.Error("revocation not confirmed everywhere", "kind", body.Kind, "subject", body.Subject,
				"missing", rec.Missing, "error", err)
		}
		writeJSON(w, status, receiptJSON(rec, err))
	})
}

// ReceiptView is the admin API's answer (and `actiongate revoke`'s output).
type ReceiptView struct {
	ID          string           `json:"id"`
	Enforced    bool             `json:"enforced"`
	EnforcedMs  float64          `json:"enforcedMs"`
	Confirmed   map[string]int64 `json:"confirmedUs"`
	Missing     []string         `json:"missing,omitempty"`
	Error       string           `json:"error,omitempty"`
	PublishedAt time.Time        `json:"publishedAt"`
}

func receiptJSON(r revocation.Receipt, err error) ReceiptView {
	v := ReceiptView{ID: r.ID, Enforced: err == nil && len(r.Missing) == 0, EnforcedMs: float64(r.Enforced.Microseconds()) / 1000,
		Confirmed: map[string]int64{}, Missing: r.Missing, PublishedAt: r.PublishedAt}
	for k, d := range r.Confirmed {
		v.Confirmed[k] = d.Microseconds()
	}
	if err != nil {
		v.Error = err.Error()
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// mountRevocation adds /v1/revocations and the IdP deprovisioning
// receivers (SSF, SCIM) to the admin API.
func (a *App) mountRevocation(mux *http.ServeMux) error {
	if a.revNode == nil {
		return nil
	}
	mux.Handle("POST /v1/revocations", a.revocationsHandler())
	rv := signals.RevokerFunc(func(ctx context.Context, r signals.Request) error {
		_, err := a.revoke(ctx, revocation.Revocation{ID: revocation.NewID(), Kind: revocation.KindUser,
			Subject: r.Target.Subject, Reason: r.Reason, Source: revocation.Source(r.Source), Issuer: r.Transmitter,
			At: time.Now().UTC()})
		return err
	})
	aud := signalAuditor{a.log.With("component", "signals")}
	for _, s := range a.cfg.Revocation.SSF {
		tr := signals.Transmitter{Name: s.Name, Issuer: s.Issuer, JWKSURL: s.JWKSURL, Audience: s.Audience,
			SubjectIssuers: s.SubjectIssuers}
		if s.BearerTokenEnv != "" {
			tr.BearerToken = os.Getenv(s.BearerTokenEnv)
		}
		h, err := signals.NewSSFReceiver(signals.SSFConfig{Transmitter: tr, Revoker: rv, Auditor: aud,
			Logger: a.log.With("component", "ssf")})
		if err != nil {
			return fmt.Errorf("revocation.ssf %s: %w", s.Name, err)
		}
		mux.Handle("POST /ssf/"+s.Name, h)
	}
	if sc := a.cfg.Revocation.SCIM; sc != nil {
		token := sc.BearerToken
		if token == "" && sc.BearerTokenEnv != "" {
			token = os.Getenv(sc.BearerTokenEnv)
		}
		h, err := signals.NewSCIMHandler(signals.SCIMConfig{Prefix: "/scim/v2", BearerToken: token,
			Issuer: sc.Issuer, Revoker: rv, Auditor: aud})
		if err != nil {
			return fmt.Errorf("revocation.scim: %w", err)
		}
		mux.Handle("/scim/v2/", h)
	}
	return nil
}

// signalAuditor logs accepted and rejected deprovisioning signals (they
// carry no credential).
type signalAuditor struct{ log *slog.Logger }

func (s signalAuditor) Accepted(_ context.Context, r signals.Request) {
	s.log.Info("deprovisioning signal accepted", "source", string(r.Source), "transmitter", r.Transmitter,
		"event", r.EventType, "event_id", r.EventID, "subject", r.Target.Subject)
}

func (s signalAuditor) Rejected(_ context.Context, r signals.Rejection) {
	s.log.Warn("deprovisioning signal rejected", "source", string(r.Source), "transmitter", r.Transmitter,
		"status", r.Status, "code", r.Code, "reason", r.Reason, "event_id", r.EventID)
}
