package audit

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// OriginPrefix starts every checkpoint origin; the rest is the instance id,
// so one verifier key file can hold the keys of many instances.
const OriginPrefix = "actiongate/audit/"

// Origin is the C2SP checkpoint origin (and default key name) of an instance.
func Origin(instanceID string) string { return OriginPrefix + instanceID }

// Checkpoint is a C2SP tlog-checkpoint body: the log's origin, its size and
// its RFC 6962 root hash.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// InstanceID is the instance the checkpoint's origin names ("" if foreign).
func (c Checkpoint) InstanceID() string {
	id, ok := strings.CutPrefix(c.Origin, OriginPrefix)
	if !ok {
		return ""
	}
	return id
}

// Text is the note body: three lines, each ending in a newline.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root) + "\n"
}

// ParseCheckpoint reads a checkpoint body. Extension lines after the root
// are allowed by C2SP and ignored.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: fewer than three lines")
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint: root %q is not a base64 SHA-256 hash", lines[2])
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// SignCheckpoint returns the signed note.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint against trusted keys and
// parses it. It must carry a valid signature by a trusted key named after
// its origin, so one instance's key cannot vouch for another's log.
func OpenCheckpoint(msg []byte, known note.Verifiers) (Checkpoint, error) {
	n, err := note.Open(msg, known)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return Checkpoint{}, errors.New("checkpoint is not signed by any trusted key")
	case errors.As(err, &invalid):
		return Checkpoint{}, fmt.Errorf("checkpoint signature by %s does not verify: the checkpoint was altered or forged", invalid.Name)
	case err != nil:
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, sig := range n.Sigs {
		if sig.Name == c.Origin {
			return c, nil
		}
	}
	return Checkpoint{}, fmt.Errorf("checkpoint for %q is signed only by keys of other logs (%s)", c.Origin, n.Sigs[0].Name)
}

// GenerateKey makes an Ed25519 note key pair named name (use
// Origin(instanceID)): skey is secret, vkey goes to auditors.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// ParseVerifiers reads verifier keys, one per line; blank lines and lines
// starting with # are skipped.
func ParseVerifiers(text []byte) (note.Verifiers, error) {
	var vs []note.Verifier
	for i, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if bytes.HasPrefix(line, []byte("PRIVATE+KEY")) {
			return nil, fmt.Errorf("line %d is a private signing key; give the verifier (public) key", i+1)
		}
		v, err := note.NewVerifier(string(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, errors.New("no verifier keys")
	}
	return note.VerifierList(vs...), nil
}

// ParseSigner reads a private note key ("PRIVATE+KEY+name+hash+key").
func ParseSigner(text []byte) (note.Signer, error) {
	s, err := note.NewSigner(string(bytes.TrimSpace(text)))
	if err != nil {
		return nil, errors.New("signing key is not a note private key") // no key material in the error
	}
	return s, nil
}

// claimedOrigin is the origin an unverified note says it is for, to locate
// a forged checkpoint in a report; never trusted for anything else.
func claimedOrigin(msg []byte) string {
	first, _, _ := bytes.Cut(msg, []byte("\n"))
	return string(first)
}

// Verifiers is a set of trusted checkpoint keys.
type Verifiers = note.Verifiers
