// Package workspace owns the agent's workspace directory: the files that
// shape every conversation (SOUL.md, AGENTS.md, USER.md, IDENTITY.md,
// MEMORY.md) and their defaults.
package workspace

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed templates/*.md
var templates embed.FS

// DefaultFiles are the files Init creates when they are missing.
var DefaultFiles = []string{"SOUL.md", "AGENTS.md", "USER.md"}

// Init creates dir (0700) and the default files that do not exist yet
// (0600). Existing files are never touched. It returns the files it created.
func Init(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var created []string
	for _, name := range DefaultFiles {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return created, err
		}
		b, err := templates.ReadFile("templates/" + name)
		if err != nil {
			return created, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return created, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return created, err
		}
		if err := f.Close(); err != nil {
			return created, err
		}
		created = append(created, p)
	}
	return created, nil
}

// Resolve returns the workspace directory: configured (agents.defaults.workspace,
// with a leading ~/ meaning home) or, when empty, def.
func Resolve(configured, def, home string) string {
	switch {
	case configured == "":
		return def
	case configured == "~":
		return home
	case len(configured) > 1 && configured[:2] == "~/":
		return filepath.Join(home, configured[2:])
	}
	return configured
}
