package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes for everything under the state directory.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// MkdirPrivate creates path and any missing parents with mode 0700,
// whatever the umask. Directories that already exist are left as they are.
// It fails when path exists and is not a directory.
func MkdirPrivate(path string) error {
	// Find the directories MkdirAll is about to create, so that exactly
	// those get their mode fixed: the umask may have removed owner bits.
	var created []string
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("create directory %s: %s exists and is not a directory", path, p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create directory %s: %w", path, err)
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(path, DirMode); err != nil {
		return fmt.Errorf("create directory %s: %w", path, err)
	}
	// Parents first: a child's chmod needs its parent searchable.
	for i := len(created) - 1; i >= 0; i-- {
		if err := os.Chmod(created[i], DirMode); err != nil {
			return fmt.Errorf("set mode 0700 on %s: %w", created[i], err)
		}
	}
	return nil
}

// WriteFileAtomic replaces path with data so that a reader sees either the
// old file or the new one, never a torn write, and the new file survives a
// crash once WriteFileAtomic returns. The result has mode 0600 whatever the
// umask or the old file's mode. The directory must exist.
//
// It writes a temporary file in the same directory (created with O_EXCL and
// mode 0600, so no other user can open it meanwhile), syncs it, renames it
// over path and syncs the directory.
func WriteFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp uses 0600, but the umask applies; set it exactly.
	if err := f.Chmod(FileMode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory, so that a rename or link in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
