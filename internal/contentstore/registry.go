package contentstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/actiongate/actiongate/internal/registry"
)

// A registry version ("git:<commit>" or "sha256:<hash of the YAML files>",
// registry.Version.String) is what decisions record. The snapshot is the
// canonical export JSON, addressed by its own SHA-256; a small ref file
// maps the version to the snapshot, and loading checks that the snapshot
// names that version.

// registryRef is the content of refs/registry/<sha256 of the version>.json.
type registryRef struct {
	Version  string `json:"version"`
	Snapshot string `json:"snapshot"`
}

// RecordRegistry stores r's export and maps its version to it; it returns
// the snapshot's address. Call it for every registry a registry.Watcher
// serves (Subscribe) and at start; a version already recorded costs a map
// lookup.
func (s *Store) RecordRegistry(r *registry.Registry) (string, error) {
	version := r.Version.String()
	if a, ok := s.recorded.Load(refKey(version)); ok {
		return a.(string), nil
	}
	export, err := r.JSON()
	if err != nil {
		return "", fmt.Errorf("registry %s: export: %w", version, err)
	}
	addr := sha256Address(export)
	if err := s.put(KindRegistry, addr, export); err != nil {
		return "", err
	}
	ref, err := json.Marshal(registryRef{Version: version, Snapshot: addr})
	if err != nil {
		return "", err
	}
	path := s.refPath(version)
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, ref) {
		if err := s.writeAtomic(path, ref, 0o644); err != nil {
			return "", fmt.Errorf("content store: registry ref %s: %w", version, err)
		}
	}
	s.recorded.Store(refKey(version), addr)
	return addr, nil
}

// LoadRegistry returns the registry of version (as decisions record it) and
// the address of its snapshot, verified: the snapshot hashes to its address
// and names version.
func (s *Store) LoadRegistry(version string) (*registry.Registry, string, error) {
	path := s.refPath(version)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("registry %s: %w (%s)", version, ErrNotFound, path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("registry %s: %w", version, err)
	}
	var ref registryRef
	if err := json.Unmarshal(raw, &ref); err != nil || ref.Version != version {
		return nil, "", fmt.Errorf("%w: %s is not the ref of registry %s", ErrTampered, path, version)
	}
	data, err := s.Get(KindRegistry, ref.Snapshot)
	if err != nil {
		return nil, "", err
	}
	var ex struct {
		Version registry.Version  `json:"version"`
		Tenants []registry.Tenant `json:"tenants"`
		Servers []registry.Server `json:"servers"`
		Agents  []registry.Agent  `json:"agents"`
	}
	if err := json.Unmarshal(data, &ex); err != nil {
		return nil, "", fmt.Errorf("registry snapshot %s: %w", ref.Snapshot, err)
	}
	if got := ex.Version.String(); got != version {
		return nil, "", fmt.Errorf("%w: registry snapshot %s is of version %s, not %s", ErrTampered, ref.Snapshot, got, version)
	}
	return registry.New(ex.Version, ex.Servers, ex.Agents, ex.Tenants), ref.Snapshot, nil
}

// refPath names the ref by a hash of the version: versions come from audit
// events and must never reach the file system as names.
func (s *Store) refPath(version string) string {
	sum := sha256.Sum256([]byte(version))
	return filepath.Join(s.dir, "refs", "registry", hex.EncodeToString(sum[:])+".json")
}

func refKey(version string) string { return "registry-ref\x00" + version }
