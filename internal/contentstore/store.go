// Package contentstore keeps what each decision consumed, addressed by its
// own hash, so that an auditor can re-run a decision long after the gateway
// served it: the policy bundle of every revision, the registry snapshot of
// every version, and the policy input document of every decision that
// reached the policy step. The audit event carries only the addresses
// (policyRevision, registryVersion, inputHash); the tamper-evident log thus
// pins the stored bytes, and every read re-hashes them.
//
// One directory per deployment (shared by its gateway instances through a
// volume, or one per host and merged for an audit); a compacted Kafka topic
// keyed by address is the multi-host alternative (docs/audit-replay.md).
package contentstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/actiongate/actiongate/internal/atomicfile"
	"github.com/actiongate/actiongate/internal/policy"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Kind is a class of stored object. Each kind has its own hash function,
// and thus its own address space.
type Kind string

// Kinds.
const (
	// KindPolicy is a policy bundle as a canonical tar archive, addressed by
	// its policy revision (internal/policy's hash of the files, which is not
	// a hash of the archive bytes).
	KindPolicy Kind = "policy"
	// KindRegistry is a registry's canonical export JSON
	// (registry.Registry.JSON), addressed by SHA-256 of those bytes.
	KindRegistry Kind = "registry"
	// KindInput is a policy input document in RFC 8785 canonical form,
	// addressed by SHA-256 of the canonical bytes. Inputs hold tool
	// arguments: files are 0600.
	KindInput Kind = "input"
)

// ErrNotFound reports an address the store does not hold.
var ErrNotFound = errors.New("not in the content store")

// ErrTampered reports stored bytes that do not hash to their address.
var ErrTampered = errors.New("stored object does not match its address")

// Options configures a Store. The zero value is usable.
type Options struct {
	// NoSync skips the fsync of each new object and its directory. A crash
	// may then lose objects written just before it (replay reports them
	// missing, never wrong). Default: every Put is durable before it returns.
	NoSync bool
}

// Store is a content-addressed directory. It is safe for concurrent use by
// goroutines and by processes sharing the directory: objects are written
// to a temporary file and renamed into place, so a reader sees a whole
// object or none.
type Store struct {
	dir  string
	opts Options
	// recorded remembers addresses (and registry versions) written by this
	// process, so that recording the same policy revision on every decision
	// costs a map lookup.
	recorded sync.Map
}

// Open opens (creating it, mode 0700, if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("content store: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("content store: %s is not a directory", dir)
	}
	return &Store{dir: dir, opts: opts}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Put stores data as an object of kind and returns its address,
// "sha256:<hex>". Input documents are canonicalized first (RFC 8785);
// policy archives must be canonical (see PolicyArchive). Storing an object
// that is already there is a no-op; a stored copy that no longer matches
// its address is moved aside (kept as evidence) and rewritten.
func (s *Store) Put(kind Kind, data []byte) (string, error) {
	data, addr, err := addressOf(kind, data)
	if err != nil {
		return "", err
	}
	return addr, s.put(kind, addr, data)
}

// Get returns the object of kind at addr after checking that its bytes
// hash to addr. A mismatch is ErrTampered, naming the file and both hashes.
func (s *Store) Get(kind Kind, addr string) ([]byte, error) {
	path, err := s.path(kind, addr)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: %w (%s)", kind, addr, ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, addr, err)
	}
	if err := verify(kind, addr, data, path); err != nil {
		return nil, err
	}
	return data, nil
}

// Has reports whether an object of kind at addr is present (unverified).
func (s *Store) Has(kind Kind, addr string) bool {
	path, err := s.path(kind, addr)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

// addressOf returns the bytes to store and their address.
func addressOf(kind Kind, data []byte) ([]byte, string, error) {
	switch kind {
	case KindInput:
		canon, err := canonicalInput(data)
		if err != nil {
			return nil, "", err
		}
		return canon, sha256Address(canon), nil
	case KindRegistry:
		return data, sha256Address(data), nil
	case KindPolicy:
		files, err := readArchive(data)
		if err != nil {
			return nil, "", fmt.Errorf("policy archive: %w", err)
		}
		canon, err := writeArchive(files)
		if err != nil {
			return nil, "", err
		}
		return canon, policy.RevisionOf(files), nil
	}
	return nil, "", fmt.Errorf("content store: unknown kind %q", kind)
}

// verify re-hashes stored bytes with their kind's hash function.
func verify(kind Kind, addr string, data []byte, path string) error {
	var got string
	switch kind {
	case KindInput, KindRegistry:
		got = sha256Address(data)
	case KindPolicy:
		files, err := readArchive(data)
		if err != nil {
			return fmt.Errorf("%w: %s is not a policy archive (%v); want revision %s", ErrTampered, path, err, addr)
		}
		got = policy.RevisionOf(files)
	default:
		return fmt.Errorf("content store: unknown kind %q", kind)
	}
	if got != addr {
		return fmt.Errorf("%w: %s hashes to %s, its address is %s", ErrTampered, path, got, addr)
	}
	return nil
}

func sha256Address(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// path maps an address to <dir>/<kind>/<2 hex>/<64 hex><ext>. The address
// is validated first: it comes from audit events, which are input here.
func (s *Store) path(kind Kind, addr string) (string, error) {
	hexPart, ok := strings.CutPrefix(addr, "sha256:")
	if !ok || len(hexPart) != 64 || strings.ToLower(hexPart) != hexPart {
		return "", fmt.Errorf("%s address %q: want sha256:<64 lowercase hex digits>", kind, addr)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return "", fmt.Errorf("%s address %q: want sha256:<64 lowercase hex digits>", kind, addr)
	}
	ext := ".json"
	switch kind {
	case KindPolicy:
		ext = ".tar"
	case KindRegistry, KindInput:
	default:
		return "", fmt.Errorf("content store: unknown kind %q", kind)
	}
	return filepath.Join(s.dir, string(kind), hexPart[:2], hexPart+ext), nil
}

func fileMode(kind Kind) fs.FileMode {
	if kind == KindInput {
		return 0o600
	}
	return 0o644
}

func (s *Store) put(kind Kind, addr string, data []byte) error {
	path, err := s.path(kind, addr)
	if err != nil {
		return err
	}
	// Inputs are not remembered: one per decision would grow without bound,
	// and two decisions (whose times differ) practically never share one.
	remember := kind != KindInput
	if _, ok := s.recorded.Load(path); ok && remember {
		return nil
	}
	if old, err := os.ReadFile(path); err == nil {
		if verify(kind, addr, old, path) == nil {
			if remember {
				s.recorded.Store(path, true)
			}
			return nil
		}
		// Keep the damaged copy for whoever investigates; the address
		// still deserves its correct content.
		if err := os.Rename(path, fmt.Sprintf("%s.damaged-%s", path, sha256Address(old)[7:19])); err != nil {
			return fmt.Errorf("content store: set aside damaged %s: %w", path, err)
		}
	}
	if err := s.writeAtomic(path, data, fileMode(kind)); err != nil {
		return fmt.Errorf("content store: %s %s: %w", kind, addr, err)
	}
	if remember {
		s.recorded.Store(path, true)
	}
	return nil
}

// writeAtomic replaces path with data (fsynced unless NoSync).
func (s *Store) writeAtomic(path string, data []byte, mode fs.FileMode) error {
	return atomicfile.Write(path, data, mode, atomicfile.Options{NoSync: s.opts.NoSync, MkdirMode: 0o700})
}
