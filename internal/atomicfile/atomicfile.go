// Package atomicfile replaces a file so that a reader (another process, a
// replica sharing the volume, the same process after a crash) sees either
// the whole old content or the whole new one.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Options tune Write.
type Options struct {
	// NoSync skips the fsyncs of the file and of its directory: faster, and
	// a crash may then lose the write (never tear it).
	NoSync bool
	// MkdirMode, when not zero, creates the directory with it if missing.
	MkdirMode fs.FileMode
}

// Write replaces path with data: a temporary file in the same directory
// with mode perm, written, fsynced, renamed over path, then the directory
// fsynced so the rename itself survives a crash.
func Write(path string, data []byte, perm fs.FileMode, o Options) (err error) {
	dir := filepath.Dir(path)
	if o.MkdirMode != 0 {
		if err := os.MkdirAll(dir, o.MkdirMode); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod before writing: the content is never readable with the
	// temporary file's default mode.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if !o.NoSync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if o.NoSync {
		return nil
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory (entries created, renamed or removed in it).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
