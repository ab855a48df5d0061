package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ModeProblem is one entry in the state tree that does not look as it should.
type ModeProblem struct {
	// Path is the entry, under the root as given to CheckTree or FixTree.
	Path string
	// Mode is the entry's permission bits (with setuid, setgid and sticky)
	// when it was checked; Want is what they should be. Neither carries the
	// file type. Want is 0 for a problem that no mode fixes.
	Mode fs.FileMode
	Want fs.FileMode
	// Problem says what is wrong, for people.
	Problem string
	// Fixed reports that FixTree changed the mode to Want.
	Fixed bool
}

// specialBits are the mode bits that are never wanted in the state tree.
const specialBits = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// CheckTree walks root without following symlinks and reports: directories
// and files that group or others can access (or that carry setuid, setgid
// or sticky bits), entries not owned by the current effective user, entries
// it cannot read, and symlinks that resolve outside root. A file more
// restrictive than 0600 (0400, say) is not a problem. If root itself is a
// symlink it is followed once, so a state dir may live elsewhere.
func CheckTree(root string) ([]ModeProblem, error) {
	return walkTree(root, false)
}

// FixTree repairs what [CheckTree] would report and a chmod can fix: it sets
// such directories to 0700 and other entries to 0600, and returns what it
// changed, each with Fixed true. It never follows a symlink and never
// changes an owner, and it leaves entries owned by another user alone (as
// root, changing them could break a deliberately root-owned file). What it
// leaves (other owners, symlinks leading out, unreadable entries) needs a
// person: run CheckTree afterwards to list it. A chmod that fails is
// reported in the error, after the walk.
//
// Directories are fixed before their contents are read, so once a directory
// is 0700 no other user can swap an entry in it between check and fix.
func FixTree(root string) ([]ModeProblem, error) {
	return walkTree(root, true)
}

func walkTree(root string, fix bool) ([]ModeProblem, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("check state dir: %w", err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, fmt.Errorf("check state dir: %w", err)
	}
	euid := os.Geteuid()
	var problems []ModeProblem
	var chmodErrs []error
	err = filepath.WalkDir(real, func(path string, d fs.DirEntry, walkErr error) error {
		shown := shownPath(root, real, path)
		if walkErr != nil {
			if path == real {
				return walkErr
			}
			problems = append(problems, ModeProblem{Path: shown, Problem: "cannot read it: " + ErrText(walkErr)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			problems = append(problems, ModeProblem{Path: shown, Problem: "cannot read it: " + ErrText(err)})
			return nil
		}
		mode := fi.Mode() & (fs.ModePerm | specialBits)
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, outside := SymlinkOutside(path, real); outside {
				problems = append(problems, ModeProblem{Path: shown, Mode: mode, Problem: "symlink to " + target + ", outside the state dir"})
			}
			return nil
		}
		want := FileMode
		if fi.IsDir() {
			want = DirMode
		}
		var what []string
		uid, hasOwner := fileOwner(fi)
		otherOwner := hasOwner && uid != euid
		if otherOwner {
			what = append(what, fmt.Sprintf("owned by uid %d, not the current user (uid %d)", uid, euid))
		}
		badMode := mode&(0o077|specialBits) != 0
		if badMode {
			what = append(what, "mode "+octal(mode)+", want "+octal(want))
		}
		if len(what) == 0 {
			return nil
		}
		p := ModeProblem{Path: shown, Mode: mode, Want: want, Problem: strings.Join(what, "; ")}
		if fix && badMode && !otherOwner {
			if err := os.Chmod(path, want); err != nil {
				chmodErrs = append(chmodErrs, err)
			} else {
				p.Fixed = true
			}
		}
		problems = append(problems, p)
		return nil
	})
	if fix {
		problems = slices.DeleteFunc(problems, func(p ModeProblem) bool { return !p.Fixed })
	}
	if err != nil {
		return problems, fmt.Errorf("check state dir: %w", err)
	}
	if len(chmodErrs) > 0 {
		return problems, fmt.Errorf("fix state dir modes: %w", errors.Join(chmodErrs...))
	}
	return problems, nil
}

// shownPath maps a path under the resolved root back under root as given.
func shownPath(root, real, path string) string {
	rel, err := filepath.Rel(real, path)
	if err != nil || rel == "." {
		return root
	}
	return filepath.Join(root, rel)
}

// SymlinkOutside reports where the symlink at path leads and whether that
// is outside root. A dangling link is judged by its text.
func SymlinkOutside(path, root string) (string, bool) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		link, lerr := os.Readlink(path)
		if lerr != nil {
			return "", false
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		target = filepath.Clean(link)
	}
	rel, err := filepath.Rel(root, target)
	if err != nil {
		return target, true
	}
	return target, rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// ErrText is an error's text without a *PathError's path, for reports
// that name the path already.
func ErrText(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// octal formats permission bits the way chmod(1) takes them.
func octal(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}
