package signals

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
)

// maxReasonLen bounds the IdP-supplied part of a reason.
const maxReasonLen = 200

// plan is one revocation an event asks for, before its subject is
// resolved to a gateway user.
type plan struct {
	eventType  string
	subject    subjectID
	reason     string
	occurredAt time.Time
}

// planEvents decides, from a verified SET's claims alone, which events
// revoke and whom they name. Event types we do not handle are returned in
// ignored (acknowledged, counted, never acted on). It is pure: the
// subjects are resolved to users afterwards.
func planEvents(c setClaims, legacy bool) (plans []plan, ignored []string, err error) {
	types := make([]string, 0, len(c.events))
	for t := range c.events {
		types = append(types, t)
	}
	slices.Sort(types) // deterministic order for revocations and audit
	for _, typ := range types {
		short, ok := revokingEvents[typ]
		if !ok {
			ignored = append(ignored, typ)
			continue
		}
		var payload map[string]json.RawMessage
		if err := json.Unmarshal(c.events[typ], &payload); err != nil {
			return nil, nil, refuse(ErrCodeInvalidRequest, "event payload must be an object", "payload of "+short+" is not an object")
		}
		subj, err := eventSubject(c.subID, payload, legacy)
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, plan{
			eventType:  typ,
			subject:    subj,
			reason:     eventReason(short, payload),
			occurredAt: eventTime(payload, c.iat),
		})
	}
	return plans, ignored, nil
}

// eventSubject takes the subject from the event's own subject member
// (CAEP/RISC as first published) or the top-level sub_id (SSF 1.0). When a
// SET carries both they must name the same identifier: a SET whose two
// subjects disagree is ambiguous about whom to revoke.
func eventSubject(subID json.RawMessage, payload map[string]json.RawMessage, legacy bool) (subjectID, error) {
	inner, hasInner := present(payload, "subject")
	switch {
	case !hasInner && subID == nil:
		return subjectID{}, refuse(ErrCodeInvalidRequest, "event names no subject", "neither sub_id nor the event's subject is present")
	case !hasInner:
		return parseSubject(subID, legacy)
	case subID == nil:
		return parseSubject(inner, legacy)
	}
	a, err := parseSubject(subID, legacy)
	if err != nil {
		return subjectID{}, err
	}
	b, err := parseSubject(inner, legacy)
	if err != nil {
		return subjectID{}, err
	}
	if !reflect.DeepEqual(a, b) {
		return subjectID{}, refuse(ErrCodeInvalidRequest, "sub_id and the event's subject disagree", "sub_id and event subject name different identifiers")
	}
	return a, nil
}

// eventReason is "ssf <event>" plus the admin-facing reason the IdP gave
// (CAEP reason_admin, preferring English; RISC reason), sanitised: it ends
// up in audit records and logs.
func eventReason(short string, payload map[string]json.RawMessage) string {
	reason := "ssf " + short
	var text string
	if raw, ok := present(payload, "reason_admin"); ok {
		var byLang map[string]string
		if json.Unmarshal(raw, &byLang) == nil {
			text = byLang["en"]
			if text == "" {
				for _, lang := range sortedKeys(byLang) {
					if text = byLang[lang]; text != "" {
						break
					}
				}
			}
		}
	} else if s, err := member(payload, "reason"); err == nil {
		text = s
	}
	text = sanitize(text, maxReasonLen)
	if text != "" {
		reason += ": " + text
	}
	return reason
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// eventTime is CAEP's event_timestamp when valid, else the SET's iat.
func eventTime(payload map[string]json.RawMessage, iat time.Time) time.Time {
	if t, ok, err := numericDate(payload, "event_timestamp"); err == nil && ok {
		return t
	}
	return iat
}

// sanitize drops control characters and cuts s to at most n bytes on a
// rune boundary.
func sanitize(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && (s[cut]&0xc0) == 0x80 {
		cut--
	}
	return s[:cut]
}
