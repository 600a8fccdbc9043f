package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// inputDoc is the part of the policy input document (docs/policy.md) that
// replay checks against the event and the registry.
type inputDoc struct {
	Principal struct {
		Iss    string   `json:"iss"`
		User   string   `json:"user"`
		Agent  string   `json:"agent"`
		Tenant string   `json:"tenant"`
		Task   string   `json:"task"`
		Groups []string `json:"groups"`
		Chain  []struct {
			Sub string `json:"sub"`
			Iss string `json:"iss"`
		} `json:"chain"`
	} `json:"principal"`
	Agent  *struct{ ID string }   `json:"agent"`
	Server *struct{ ID string }   `json:"server"`
	Tool   *struct{ Name string } `json:"tool"`
	Call   struct {
		Method    string          `json:"method"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"call"`
	Time            string `json:"time"`
	RegistryVersion string `json:"registry_version"`
}

func parseInput(doc []byte) (inputDoc, error) {
	var in inputDoc
	if err := json.Unmarshal(doc, &in); err != nil {
		return in, fmt.Errorf("the stored input is not a policy input document: %v", err)
	}
	return in, nil
}

// checkInput ties the stored input to the event: same principal, call and
// registry version, and arguments that hash to the event's call hash. The
// input hash in the signed log already pins the document; these checks
// catch a gateway that recorded the wrong document. Then, if the store has
// the registry snapshot, the agent, server and tool entries must be what
// that registry version says.
func checkInput(r *Report, ev audit.Event, in inputDoc, doc []byte, store Store) error {
	var chain []string
	for _, a := range in.Principal.Chain {
		chain = append(chain, a.Sub)
	}
	var bad []string
	field := func(name, doc, event string) {
		if doc != event {
			bad = append(bad, fmt.Sprintf("%s %q in the input, %q in the event", name, doc, event))
		}
	}
	field("issuer", in.Principal.Iss, ev.Issuer)
	field("user", in.Principal.User, ev.User)
	field("agent", in.Principal.Agent, ev.Agent)
	field("tenant", in.Principal.Tenant, ev.Tenant)
	field("task", in.Principal.Task, ev.Task)
	field("method", in.Call.Method, ev.Method)
	field("registry version", in.RegistryVersion, ev.RegistryVersion)
	if in.Server != nil {
		field("server", in.Server.ID, ev.Server)
	}
	if in.Tool != nil {
		field("tool", in.Tool.Name, ev.Tool)
	}
	if !slices.Equal(chain, ev.Chain) {
		bad = append(bad, fmt.Sprintf("delegation chain %q in the input, %q in the event", chain, ev.Chain))
	}
	if len(bad) > 0 {
		r.check("event", "failed", "%s", joinDiffs(bad))
		return fmt.Errorf("%w: %s", ErrInconsistent, joinDiffs(bad))
	}
	r.check("event", "ok", "the input names the event's principal, call and registry version")
	if err := checkCallHash(r, ev, in); err != nil {
		return err
	}
	return checkRegistry(r, ev, in, doc, store)
}

// checkCallHash: the arguments the policy judged are those the event's
// call hash covers. Absent arguments are {} in the input and null in the
// call hash.
func checkCallHash(r *Report, ev audit.Event, in inputDoc) error {
	if ev.CallHash == "" {
		r.check("call hash", "skipped", "the event has no call hash")
		return nil
	}
	c := audit.CallInput{Server: ev.Server, Tool: ev.Tool, Arguments: in.Call.Arguments,
		User: ev.User, Agent: ev.Agent, Tenant: ev.Tenant, Task: ev.Task}
	h, err := audit.CallHash(c)
	if err == nil && h != ev.CallHash && bytes.Equal(bytes.TrimSpace(in.Call.Arguments), []byte("{}")) {
		c.Arguments = nil
		h, err = audit.CallHash(c)
	}
	if err != nil || h != ev.CallHash {
		r.check("call hash", "failed", "the input's arguments hash to %s, the event's call hash is %s", h, ev.CallHash)
		return fmt.Errorf("%w: the input's arguments hash to %s, the event's call hash is %s", ErrInconsistent, h, ev.CallHash)
	}
	r.check("call hash", "ok", "the input's arguments hash to the event's call hash %s", ev.CallHash)
	return nil
}

// checkRegistry rebuilds the input from the registry snapshot of the
// recorded version, as extauthz builds it, and requires the same address.
func checkRegistry(r *Report, ev audit.Event, in inputDoc, doc []byte, store Store) error {
	reg, snap, err := store.LoadRegistry(ev.RegistryVersion)
	if errors.Is(err, contentstore.ErrNotFound) {
		r.check("registry", "skipped", "no snapshot of registry %s in the store: agent, server and tool entries not cross-checked", ev.RegistryVersion)
		return nil
	}
	if err != nil {
		r.check("registry", "failed", "%v", err)
		return fmt.Errorf("registry of decision %s: %w", ev.DecisionID, err)
	}
	rebuilt, err := rebuild(reg, in)
	if err != nil {
		r.check("registry", "failed", "%v", err)
		return fmt.Errorf("%w: %v", ErrInconsistent, err)
	}
	addr, err := contentstore.InputAddress(rebuilt)
	if err != nil {
		return fmt.Errorf("%w: rebuilt input: %v", ErrInconsistent, err)
	}
	if addr != ev.InputHash {
		section := differingSection(rebuilt, doc)
		r.check("registry", "failed", "input %s differs from registry %s (snapshot %s)", section, ev.RegistryVersion, snap)
		return fmt.Errorf("%w: the recorded input's %s differs from what registry %s (snapshot %s) gives",
			ErrInconsistent, section, ev.RegistryVersion, snap)
	}
	r.check("registry", "ok", "agent, server and tool entries are those of registry %s (snapshot %s)", ev.RegistryVersion, snap)
	return nil
}

// rebuild is the input extauthz would build from reg for the recorded
// principal and call.
func rebuild(reg *registry.Registry, in inputDoc) ([]byte, error) {
	t, err := time.Parse(time.RFC3339Nano, in.Time)
	if err != nil {
		return nil, fmt.Errorf("input time %q: %v", in.Time, err)
	}
	p := principal.Principal{Issuer: in.Principal.Iss, User: in.Principal.User, Agent: in.Principal.Agent,
		Tenant: in.Principal.Tenant, Task: in.Principal.Task, Groups: in.Principal.Groups}
	for _, a := range in.Principal.Chain {
		p.Chain = append(p.Chain, principal.Actor{Subject: a.Sub, Issuer: a.Iss})
	}
	pin := policy.Input{Principal: p, Call: policy.Call{Method: in.Call.Method, Arguments: in.Call.Arguments},
		Time: t, RegistryVersion: in.RegistryVersion}
	if a, ok := reg.Agent(p.Agent); ok {
		pin.Agent = a
	}
	if in.Server != nil {
		s, ok := reg.Server(in.Server.ID)
		if !ok {
			return nil, fmt.Errorf("server %q is not in registry %s", in.Server.ID, in.RegistryVersion)
		}
		pin.Server = s
		if in.Tool != nil {
			if pin.Tool, ok = s.Tool(in.Tool.Name); !ok {
				return nil, fmt.Errorf("tool %s/%s is not in registry %s", s.ID, in.Tool.Name, in.RegistryVersion)
			}
		}
	}
	return pin.JSON()
}

// differingSection names the top-level members of the input that differ.
func differingSection(rebuilt, doc []byte) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(rebuilt, &a) != nil || json.Unmarshal(doc, &b) != nil {
		return "content"
	}
	var keys []string
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k, v := range b {
		w, ok := a[k]
		if !ok {
			keys = append(keys, k)
			continue
		}
		cv, err1 := jcs.Transform(v)
		cw, err2 := jcs.Transform(w)
		if err1 != nil || err2 != nil || !bytes.Equal(cv, cw) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "content"
	}
	slices.Sort(keys)
	out := keys[0]
	for _, k := range keys[1:] {
		out += ", " + k
	}
	return out
}
