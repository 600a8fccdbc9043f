package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/actiongate/actiongate/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Store keeps records. Implementations encrypt at rest; the broker never
// writes a token anywhere else.
type Store interface {
	// Load returns the record of k, or an error wrapping ErrNoRecord.
	Load(ctx context.Context, k Key) (Record, error)
	Save(ctx context.Context, k Key, r Record) error
	// Delete removes k's record; a missing record is not an error.
	Delete(ctx context.Context, k Key) error
	// UserRecords returns every record of (tenant, user), including
	// providers no longer configured. Records that cannot be opened are
	// reported in the error; the others are still returned.
	UserRecords(ctx context.Context, tenant, user string) ([]Entry, error)
	// DeleteUser removes every record of (tenant, user), readable or not.
	DeleteUser(ctx context.Context, tenant, user string) error
}

// Rewrapper is a Store that can re-encrypt its records under the current key.
type Rewrapper interface {
	Rewrap(ctx context.Context) (RewrapReport, error)
}

// RewrapReport counts what Rewrap did. Failed names files (hashes, never
// user ids) that could not be opened; they are left as they were.
type RewrapReport struct {
	Rewrapped, AlreadyCurrent int
	Failed                    []string
}

// FileStore keeps one file per record under dir:
//
//	dir/<hash(tenant,user)>/<hash(tenant,user,provider)>.rec
//
// Names are SHA-256 hashes, so a directory listing shows no user, tenant
// or provider id; the per-user directory lets RevokeUser remove a user's
// records without opening any. Files are 0600, directories 0700, and
// every write is a temp file, fsync and rename, so a crash leaves the old
// record or the new one, never half of one.
type FileStore struct {
	dir  string
	ring *KeyRing
	// mu serialises this process's writes, so Rewrap never overwrites a
	// record a refresh saved a moment before. Writers in other processes
	// are not covered: run Rewrap where no other broker writes (docs/broker.md).
	mu sync.Mutex
}

const recordExt = ".rec"

// NewFileStore opens (creating if needed) dir. An existing dir readable by
// group or others is refused: the records are encrypted, but their count
// and timing are still nobody else's business.
func NewFileStore(dir string, ring *KeyRing) (*FileStore, error) {
	if ring == nil {
		return nil, errors.New("broker: file store needs a key ring")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("broker: store directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("broker: store directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("broker: store path %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("broker: store directory %s has mode %v; want 0700 (chmod 700 it)", dir, fi.Mode().Perm())
	}
	return &FileStore{dir: dir, ring: ring}, nil
}

func hashHex(fields ...string) string {
	var b []byte
	for _, f := range fields {
		b = appendField(b, f)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *FileStore) userDir(tenant, user string) string {
	return filepath.Join(s.dir, hashHex("actiongate/broker/user/v1", tenant, user))
}

func (s *FileStore) path(k Key) string {
	return filepath.Join(s.userDir(k.Tenant, k.User), hashHex("actiongate/broker/file/v1", k.Tenant, k.User, k.Provider)+recordExt)
}

func (s *FileStore) Load(_ context.Context, k Key) (Record, error) {
	if err := k.validate(); err != nil {
		return Record{}, err
	}
	data, err := os.ReadFile(s.path(k))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("%w for %s", ErrNoRecord, k)
	}
	if err != nil {
		return Record{}, fmt.Errorf("broker: read record: %w", err)
	}
	r, _, err := openRecord(s.ring, k, data)
	if err != nil {
		return Record{}, fmt.Errorf("record for %s: %w", k, err)
	}
	return r, nil
}

func (s *FileStore) Save(_ context.Context, k Key, r Record) error {
	data, err := sealRecord(s.ring, k, r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeAtomic(s.path(k), data)
}

func (s *FileStore) Delete(_ context.Context, k Key) error {
	if err := k.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.path(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("broker: delete record: %w", err)
	}
	_ = os.Remove(s.userDir(k.Tenant, k.User)) // only succeeds once empty
	return nil
}

func (s *FileStore) UserRecords(_ context.Context, tenant, user string) ([]Entry, error) {
	dir := s.userDir(tenant, user)
	names, err := recordFiles(dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	var errs []error
	for _, name := range names {
		k, r, err := s.openFile(filepath.Join(dir, name))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		case k.Tenant != tenant || k.User != user:
			errs = append(errs, fmt.Errorf("%s: %w", name, ErrOpen))
		default:
			out = append(out, Entry{Key: k, Record: r})
		}
	}
	return out, errors.Join(errs...)
}

func (s *FileStore) DeleteUser(_ context.Context, tenant, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.RemoveAll(s.userDir(tenant, user)); err != nil {
		return fmt.Errorf("broker: delete user records: %w", err)
	}
	return nil
}

// openFile opens a record file without knowing its slot: the sealed slot
// says which it claims, the file must sit at that slot's path, and the
// record must open with that slot's AAD.
func (s *FileStore) openFile(path string) (Key, Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, Record{}, err
	}
	k, _, err := openSlot(s.ring, data)
	if err != nil {
		return Key{}, Record{}, err
	}
	if s.path(k) != path {
		return Key{}, Record{}, ErrOpen
	}
	r, _, err := openRecord(s.ring, k, data)
	return k, r, err
}

// Rewrap re-encrypts every record not sealed with the current key. A
// record that fails to open is counted in Failed and left untouched; the
// returned error says how many failed.
func (s *FileStore) Rewrap(ctx context.Context) (RewrapReport, error) {
	var rep RewrapReport
	users, err := os.ReadDir(s.dir)
	if err != nil {
		return rep, fmt.Errorf("broker: rewrap: %w", err)
	}
	for _, u := range users {
		if !u.IsDir() {
			continue
		}
		dir := filepath.Join(s.dir, u.Name())
		names, err := recordFiles(dir)
		if err != nil {
			return rep, err
		}
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			rewrapped, err := s.rewrapFile(filepath.Join(dir, name))
			switch {
			case err != nil:
				rep.Failed = append(rep.Failed, filepath.Join(u.Name(), name))
			case rewrapped:
				rep.Rewrapped++
			default:
				rep.AlreadyCurrent++
			}
		}
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("broker: rewrap: %d record(s) could not be opened and keep their old key: %s",
			len(rep.Failed), strings.Join(rep.Failed, ", "))
	}
	return rep, nil
}

func (s *FileStore) rewrapFile(path string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	env, err := parseEnvelope(data)
	if err != nil {
		return false, err
	}
	if env.KID == s.ring.Current() {
		return false, nil
	}
	k, r, err := s.openFile(path)
	if err != nil {
		return false, err
	}
	sealed, err := sealRecord(s.ring, k, r)
	if err != nil {
		return false, err
	}
	return true, writeAtomic(path, sealed)
}

func recordFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: list records: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), recordExt) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// writeAtomic replaces path with data (0600, directory 0700 if new).
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600, atomicfile.Options{MkdirMode: 0o700}); err != nil {
		return fmt.Errorf("broker: write record: %w", err)
	}
	return nil
}
