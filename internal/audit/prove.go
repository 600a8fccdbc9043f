package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// InclusionProof lets an auditor who trusts only a checkpoint (and the
// instance's public key) check that one event is in the log.
type InclusionProof struct {
	EventID    string          `json:"eventId"`
	Instance   string          `json:"instance"`
	LeafIndex  uint64          `json:"leafIndex"`
	TreeSize   uint64          `json:"treeSize"`
	Hashes     [][]byte        `json:"proof"`      // base64, leaf to root
	Checkpoint string          `json:"checkpoint"` // the signed note
	Event      json.RawMessage `json:"event"`      // the event as logged
}

// Prove builds the inclusion proof of eventID against the largest signed
// checkpoint of its instance that covers it and matches the events.
func Prove(entries []Entry, checkpoints []SignedCheckpoint, known note.Verifiers, eventID string) (InclusionProof, error) {
	var r Report
	logs := collect(entries, &r)
	var l *instanceLog
	var target *logged
	for _, il := range logs {
		if lg, ok := il.byID[eventID]; ok {
			l, target = il, lg
		}
	}
	if target == nil {
		return InclusionProof{}, fmt.Errorf("event %s is not in the log", eventID)
	}
	l.checkSeqs(&r)
	cp, raw, err := bestCheckpoint(l, target.ev.Seq, checkpoints, known)
	if err != nil {
		return InclusionProof{}, err
	}
	hashes, err := l.tree.InclusionProof(target.ev.Seq, cp.Size)
	if err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{EventID: eventID, Instance: l.id, LeafIndex: target.ev.Seq, TreeSize: cp.Size,
		Hashes: hashes, Checkpoint: string(raw), Event: target.canon}, nil
}

func bestCheckpoint(l *instanceLog, seq uint64, cps []SignedCheckpoint, known note.Verifiers) (Checkpoint, []byte, error) {
	var best Checkpoint
	var bestRaw []byte
	for _, sc := range cps {
		c, err := OpenCheckpoint(sc.Note, known)
		if err != nil || c.InstanceID() != l.id || c.Size <= seq || c.Size > l.tree.Size() || c.Size <= best.Size {
			continue
		}
		if root, err := l.tree.Root(c.Size); err != nil || !bytes.Equal(root, c.Root) {
			continue
		}
		best, bestRaw = c, sc.Note
	}
	if bestRaw == nil {
		return Checkpoint{}, nil, fmt.Errorf("no valid signed checkpoint of instance %s covers seq %d yet", l.id, seq)
	}
	return best, bestRaw, nil
}

// VerifyInclusion checks p using nothing but the trusted keys: the
// checkpoint's signature, the event's hash, and the path to the root.
func VerifyInclusion(p InclusionProof, known note.Verifiers) error {
	cp, err := OpenCheckpoint([]byte(p.Checkpoint), known)
	if err != nil {
		return err
	}
	ev, canon, err := ParseEvent(p.Event)
	if err != nil {
		return err
	}
	switch {
	case ev.ID != p.EventID:
		return fmt.Errorf("the proof's event is %s, not %s", ev.ID, p.EventID)
	case cp.InstanceID() != ev.InstanceID:
		return fmt.Errorf("checkpoint of %q, event of instance %s", cp.Origin, ev.InstanceID)
	case cp.Size != p.TreeSize || ev.Seq != p.LeafIndex:
		return errors.New("the proof's tree size or leaf index disagree with its checkpoint or event")
	}
	if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, LeafHash(canon), p.Hashes, cp.Root); err != nil {
		return fmt.Errorf("event %s is not included in the checkpoint of size %d: %w", p.EventID, cp.Size, err)
	}
	return nil
}
