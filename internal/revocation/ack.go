package revocation

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ackType says what a record of the ack topic is.
type ackType string

const (
	// ackApplied: Replica applied Revocation (State and the Apply hook).
	ackApplied ackType = "ack"
	// ackHeartbeat: Replica is up and caught up with the revocation topic.
	ackHeartbeat ackType = "heartbeat"
	// ackLeaving: Replica stopped on purpose; do not wait for it.
	ackLeaving ackType = "leaving"
)

// maxReplicaID bounds a replica id (a pod name, a host name).
const maxReplicaID = 253

// ackRecord is one record of the ack topic, keyed by replica id. At is
// the replica's clock: when it applied, or when it was alive.
type ackRecord struct {
	Type       ackType   `json:"type"`
	Replica    string    `json:"replica"`
	Revocation string    `json:"revocation,omitempty"`
	At         time.Time `json:"at"`
}

func (a ackRecord) encode() []byte {
	b, _ := json.Marshal(a) // strings and a time always marshal
	return b
}

func decodeAck(value []byte) (ackRecord, error) {
	var a ackRecord
	if err := json.Unmarshal(value, &a); err != nil {
		return ackRecord{}, fmt.Errorf("ack record does not decode: %w", err)
	}
	switch a.Type {
	case ackApplied:
		if a.Revocation == "" {
			return ackRecord{}, errors.New("ack record names no revocation")
		}
	case ackHeartbeat, ackLeaving:
	default:
		return ackRecord{}, fmt.Errorf("ack record of unknown type %q", trunc(string(a.Type)))
	}
	if err := checkReplicaID(a.Replica); err != nil {
		return ackRecord{}, err
	}
	return a, nil
}

func checkReplicaID(id string) error {
	if id == "" {
		return errors.New("revocation: no replica id")
	}
	return checkText("replica id", id, maxReplicaID)
}
