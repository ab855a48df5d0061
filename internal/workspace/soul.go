package workspace

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/internal/state"
)

// SoulFile is the agent's identity file in the workspace.
const SoulFile = "SOUL.md"

// BaselineName is the file in the state directory's root that holds the
// SOUL.md baseline written by [Lock]. The default workspace is
// <state dir>/workspace, so the baseline sits outside it, where neither the
// agent's tools nor its sandbox can reach.
const BaselineName = "soul.sha256"

// BaselinePath is the baseline's path for the state directory d.
func BaselinePath(d state.Dir) string { return filepath.Join(d.Root, BaselineName) }

// SoulState is the verdict of [Verify].
type SoulState string

// Verdicts, from best to worst. Drift beats a bad mode: changed content is
// what the owner must look at first.
const (
	// SoulOK: the content matches the baseline and nobody can write the file.
	SoulOK SoulState = "ok"
	// SoulNoBaseline: SOUL.md was never locked (or was unlocked), or the
	// baseline is for a SOUL.md elsewhere.
	SoulNoBaseline SoulState = "no-baseline"
	// SoulBadMode: the content matches, but the file is writable again or
	// no longer owned by root after a lock as root.
	SoulBadMode SoulState = "bad-mode"
	// SoulDrift: the content differs from the baseline, or the file is
	// gone or was replaced by something that is not a regular file.
	SoulDrift SoulState = "drift"
)

// Soul describes SOUL.md and its baseline, as [Lock], [Unlock] or [Verify]
// found or left them.
type Soul struct {
	State SoulState `json:"state"`
	// Path is SOUL.md; Baseline the baseline file.
	Path     string `json:"path"`
	Baseline string `json:"baseline"`
	// SHA256 is the hex digest of the content now; Locked the digest the
	// baseline records. Either is empty when there is nothing to hash.
	SHA256 string `json:"sha256,omitempty"`
	Locked string `json:"lockedSha256,omitempty"`
	// LockedAt is when the baseline was written.
	LockedAt time.Time `json:"lockedAt,omitzero"`
	Size     int64     `json:"size"`
	// Mode is the permission bits, as chmod takes them ("0444"); UID owns
	// the file.
	Mode string `json:"mode,omitempty"`
	UID  int    `json:"uid"`
	// Immutable reports the file's immutable attribute (chattr +i), which
	// Lock sets when it runs as root and the file system supports it.
	Immutable bool `json:"immutable"`
	// Problems says, for people, what is wrong; empty when State is ok.
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether the state is [SoulOK].
func (s *Soul) OK() bool { return s.State == SoulOK }

// maxBaselineBytes bounds how much of a baseline file is read.
const maxBaselineBytes = 64 << 10

// Lock makes ws/SOUL.md read-only and records its SHA-256 in the file
// baseline, as the seed guides' "chown root, chmod 444, sha256sum >
// baseline" does. The baseline is one sha256sum(1) line, so `sha256sum -c
// BASELINE` checks it too, and it is written 0600.
//
// Run as root, SOUL.md becomes root:root 0444 (0400 when the workspace
// itself belongs to root) and immutable (chattr +i) where the file system
// allows; the baseline is given to the owner of its directory, so that the
// gateway can read it, and made immutable too: the gateway's user owns the
// workspace and could otherwise replace either file. Run as another user,
// SOUL.md stays that user's and becomes 0400, which the state dir's
// 0700/0600 check accepts (0444 would be "repaired" back to 0600).
//
// Lock refuses a SOUL.md that is a symlink or not a regular file, and a
// baseline inside the workspace, where the agent could rewrite it.
func Lock(ws, baseline string) (Soul, error) {
	return lock(ws, baseline, os.Geteuid() == 0)
}

func lock(ws, baseline string, asRoot bool) (Soul, error) {
	s := Soul{Path: filepath.Join(ws, SoulFile), Baseline: baseline}
	if err := checkOutside(ws, baseline); err != nil {
		return s, err
	}
	wsUID, _, err := dirOwner(ws)
	if err != nil {
		return s, fmt.Errorf("workspace %s: %w", ws, err)
	}
	f, err := openSoul(s.Path)
	if err != nil {
		return s, fmt.Errorf("lock %s: %w", s.Path, err)
	}
	defer f.Close()
	if asRoot {
		if err := setImmutable(f, false); err != nil {
			return s, fmt.Errorf("lock %s: clear the immutable attribute: %w", s.Path, err)
		}
	}
	sum, size, err := hashFile(f)
	if err != nil {
		return s, fmt.Errorf("lock %s: %w", s.Path, err)
	}
	mode := fs.FileMode(0o400)
	if asRoot {
		if wsUID != 0 {
			mode = 0o444 // the gateway's user reads it as "other"
		}
		if err := f.Chown(0, 0); err != nil {
			return s, fmt.Errorf("lock %s: chown root: %w", s.Path, err)
		}
	}
	if err := f.Chmod(mode); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return s, fmt.Errorf("lock %s: %w: run gatehouse soul lock as the file's owner, or as root (sudo) if root locked it", s.Path, err)
		}
		return s, fmt.Errorf("lock %s: %w", s.Path, err)
	}
	if asRoot {
		_ = setImmutable(f, true) // best effort: not every file system has it
	}

	uid := -1
	if fi, err := f.Stat(); err == nil {
		if owner, ok := fileOwner(fi); ok {
			uid = owner
		}
	}
	if err := writeBaseline(baseline, baselineRecord{sum: sum, path: s.Path, uid: uid, mode: mode}, asRoot); err != nil {
		return s, err
	}
	s, err = inspect(f, s, sum, size)
	s.State, s.Locked = SoulOK, sum
	if bfi, err := os.Lstat(baseline); err == nil {
		s.LockedAt = bfi.ModTime().UTC()
	}
	return s, err
}

// Unlock makes ws/SOUL.md editable again (0600, given back to the owner of
// the workspace when run as root, immutable attribute cleared) and removes
// the baseline. Run Lock again after editing.
func Unlock(ws, baseline string) (Soul, error) {
	return unlock(ws, baseline, os.Geteuid() == 0)
}

func unlock(ws, baseline string, asRoot bool) (Soul, error) {
	s := Soul{Path: filepath.Join(ws, SoulFile), Baseline: baseline, State: SoulNoBaseline}
	f, err := openSoul(s.Path)
	if err != nil {
		return s, fmt.Errorf("unlock %s: %w", s.Path, err)
	}
	defer f.Close()
	if asRoot {
		if err := setImmutable(f, false); err != nil {
			return s, fmt.Errorf("unlock %s: clear the immutable attribute: %w", s.Path, err)
		}
		uid, gid, err := dirOwner(ws)
		if err != nil {
			return s, fmt.Errorf("workspace %s: %w", ws, err)
		}
		if err := f.Chown(uid, gid); err != nil {
			return s, fmt.Errorf("unlock %s: chown to the workspace's owner: %w", s.Path, err)
		}
	}
	if err := f.Chmod(state.FileMode); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return s, fmt.Errorf("unlock %s: %w: run gatehouse soul unlock as the file's owner, or as root (sudo) if root locked it", s.Path, err)
		}
		return s, fmt.Errorf("unlock %s: %w", s.Path, err)
	}
	if err := removeBaseline(baseline, asRoot); err != nil {
		return s, err
	}
	sum, size, err := hashFile(f)
	if err != nil {
		return s, fmt.Errorf("unlock %s: %w", s.Path, err)
	}
	out, err := inspect(f, s, sum, size)
	out.Problems = []string{"SOUL.md is not locked: edit it, then run gatehouse soul lock"}
	return out, err
}

// Verify compares ws/SOUL.md with the baseline Lock wrote and checks that
// nobody can write the file. The error is for what prevents a verdict (an
// unreadable baseline or SOUL.md); what the verdict is comes in State and
// Problems.
func Verify(ws, baseline string) (Soul, error) {
	s := Soul{Path: filepath.Join(ws, SoulFile), Baseline: baseline}
	rec, bfi, err := readBaseline(baseline)
	if errors.Is(err, fs.ErrNotExist) {
		s.State = SoulNoBaseline
		s.Problems = []string{"SOUL.md is not locked: run gatehouse soul lock"}
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.Locked, s.LockedAt = rec.sum, bfi.ModTime().UTC()
	if !samePath(rec.path, s.Path) {
		s.State = SoulNoBaseline
		s.Problems = []string{fmt.Sprintf("the baseline is for %s, not this workspace's SOUL.md: run gatehouse soul lock", rec.path)}
		return s, nil
	}
	f, err := openSoul(s.Path)
	if err != nil {
		var nr *notRegularError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s.State, s.Problems = SoulDrift, []string{"SOUL.md changed since soul lock: it is gone (no such file)"}
			return s, nil
		case errors.As(err, &nr):
			s.State, s.Problems = SoulDrift, []string{"SOUL.md changed since soul lock: it " + nr.what}
			return s, nil
		}
		return s, fmt.Errorf("verify %s: %w", s.Path, err)
	}
	defer f.Close()
	sum, size, err := hashFile(f)
	if err != nil {
		return s, fmt.Errorf("verify %s: %w", s.Path, err)
	}
	s, err = inspect(f, s, sum, size)
	if err != nil {
		return s, err
	}
	if sum != rec.sum {
		s.State = SoulDrift
		s.Problems = append(s.Problems, "SOUL.md changed since soul lock: its sha256 is "+sum+", the baseline says "+rec.sum)
	}
	fi, err := f.Stat()
	if err != nil {
		return s, fmt.Errorf("verify %s: %w", s.Path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o222 != 0 {
		s.Problems = append(s.Problems, fmt.Sprintf("SOUL.md is writable (mode %04o): run gatehouse soul lock", uint32(perm)))
	}
	if rec.uid >= 0 && s.UID != rec.uid {
		fix := "gatehouse soul lock"
		if rec.uid == 0 {
			fix = "sudo " + fix
		}
		s.Problems = append(s.Problems, fmt.Sprintf("SOUL.md is owned by uid %d, not uid %d as soul lock left it: run %s", s.UID, rec.uid, fix))
	}
	switch {
	case s.State == SoulDrift:
	case len(s.Problems) > 0:
		s.State = SoulBadMode
	default:
		s.State = SoulOK
	}
	return s, nil
}

// samePath reports whether a and b name the same file, the same directory
// reached through different symlinks included.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	if filepath.Base(a) != filepath.Base(b) {
		return false
	}
	da, err1 := filepath.EvalSymlinks(filepath.Dir(a))
	db, err2 := filepath.EvalSymlinks(filepath.Dir(b))
	return err1 == nil && err2 == nil && da == db
}

// inspect fills in the digest and what f's metadata says.
func inspect(f *os.File, s Soul, sum string, size int64) (Soul, error) {
	fi, err := f.Stat()
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.Path, err)
	}
	s.SHA256, s.Size = sum, size
	s.Mode = fmt.Sprintf("%04o", uint32(fi.Mode().Perm()))
	if uid, ok := fileOwner(fi); ok {
		s.UID = uid
	}
	s.Immutable = isImmutable(f)
	return s, nil
}

// notRegularError reports a SOUL.md that is a symlink, a directory or a
// device: never what Lock locked.
type notRegularError struct {
	path, what string
}

func (e *notRegularError) Error() string { return e.path + ": " + e.what }

// openSoul opens path for reading without following a symlink and without
// blocking on a FIFO, and checks that it is a regular file.
func openSoul(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if isSymlinkErr(err) {
		return nil, &notRegularError{path, "is a symbolic link, not a regular file: replace it with the file itself"}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &notRegularError{path, "is not a regular file (" + fi.Mode().Type().String() + ")"}
	}
	return f, nil
}

// hashFile returns the hex SHA-256 of f's content, read from the start.
func hashFile(f *os.File) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// dirOwner returns the uid and gid owning the directory dir.
func dirOwner(dir string) (int, int, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, 0, err
	}
	if !fi.IsDir() {
		return 0, 0, errors.New("not a directory")
	}
	uid, gid, _ := fileOwnerGroup(fi)
	return uid, gid, nil
}

func fileOwner(fi fs.FileInfo) (int, bool) {
	uid, _, ok := fileOwnerGroup(fi)
	return uid, ok
}

// checkOutside refuses a baseline inside the workspace.
func checkOutside(ws, baseline string) error {
	wsReal, err := filepath.EvalSymlinks(ws)
	if err != nil {
		return fmt.Errorf("workspace %s: %w", ws, err)
	}
	dirReal, err := filepath.EvalSymlinks(filepath.Dir(baseline))
	if err != nil {
		return fmt.Errorf("baseline directory %s: %w", filepath.Dir(baseline), err)
	}
	rel, err := filepath.Rel(wsReal, dirReal)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("the baseline %s would be inside the workspace %s, where the agent can change it: move the workspace out of the state dir (gatehouse config set agents.defaults.workspace DIR)", baseline, ws)
	}
	return nil
}

// baselineRecord is what a baseline file holds: a comment line with the
// owner and mode Lock left (sha256sum -c skips it), then the sha256sum line.
type baselineRecord struct {
	sum, path string
	// uid is the owner Lock left, -1 when the file does not say.
	uid  int
	mode fs.FileMode
}

func (r baselineRecord) text() string {
	return fmt.Sprintf("# gatehouse soul lock: uid=%d mode=%04o\n", r.uid, uint32(r.mode)) + sumLine(r.sum, r.path)
}

// writeBaseline writes rec to the baseline file. As root it gives the file
// to the owner of its directory and makes it immutable.
func writeBaseline(baseline string, rec baselineRecord, asRoot bool) error {
	if asRoot {
		if err := clearImmutable(baseline); err != nil {
			return fmt.Errorf("baseline %s: clear the immutable attribute: %w", baseline, err)
		}
	}
	if err := state.WriteFileAtomic(baseline, []byte(rec.text())); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w: it was written by root; run gatehouse soul lock as root (sudo)", err)
		}
		return err
	}
	if !asRoot {
		return nil
	}
	uid, gid, err := dirOwner(filepath.Dir(baseline))
	if err != nil {
		return fmt.Errorf("baseline %s: %w", baseline, err)
	}
	f, err := os.OpenFile(baseline, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return fmt.Errorf("baseline %s: %w", baseline, err)
	}
	defer f.Close()
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("baseline %s: chown to the state dir's owner: %w", baseline, err)
	}
	_ = setImmutable(f, true) // best effort, as for SOUL.md
	return nil
}

// removeBaseline removes the baseline; a missing one is fine.
func removeBaseline(baseline string, asRoot bool) error {
	if asRoot {
		if err := clearImmutable(baseline); err != nil {
			return fmt.Errorf("baseline %s: clear the immutable attribute: %w", baseline, err)
		}
	}
	if err := os.Remove(baseline); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("remove %w: run gatehouse soul unlock as root (sudo)", err)
		}
		return fmt.Errorf("remove %w", err)
	}
	return nil
}

// clearImmutable clears the immutable attribute of path, if it exists.
func clearImmutable(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return setImmutable(f, false)
}

// sumLine is a sha256sum(1) line: the digest, two spaces, the path. A path
// with a backslash or a line break is escaped as GNU coreutils does: the
// line starts with a backslash, and \\, \n and \r stand for them.
func sumLine(sum, path string) string {
	if !strings.ContainsAny(path, "\\\n\r") {
		return sum + "  " + path + "\n"
	}
	esc := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(path)
	return `\` + sum + "  " + esc + "\n"
}

// readBaseline reads a baseline file: its first sha256sum line and, when
// Lock's comment precedes it, the owner Lock left.
func readBaseline(path string) (baselineRecord, fs.FileInfo, error) {
	rec := baselineRecord{uid: -1}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if isSymlinkErr(err) {
		return rec, nil, fmt.Errorf("baseline %s is a symbolic link: remove it and run gatehouse soul lock", path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rec, nil, err
		}
		return rec, nil, fmt.Errorf("read baseline: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return rec, nil, fmt.Errorf("read baseline: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return rec, nil, fmt.Errorf("baseline %s is not a regular file: remove it and run gatehouse soul lock", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBaselineBytes))
	if err != nil {
		return rec, nil, fmt.Errorf("read baseline: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		var uid int
		var mode uint32
		if _, err := fmt.Sscanf(line, "# gatehouse soul lock: uid=%d mode=%o", &uid, &mode); err == nil {
			rec.uid, rec.mode = uid, fs.FileMode(mode)
			continue
		}
		if sum, file, ok := parseSumLine(line); ok {
			rec.sum, rec.path = sum, file
			return rec, fi, nil
		}
	}
	return rec, nil, fmt.Errorf("baseline %s holds no sha256 line: run gatehouse soul lock to write it again", path)
}

// parseSumLine reads one sha256sum(1) line, in text ("  ") or binary
// (" *") form, escaped or not.
func parseSumLine(line string) (sum, file string, ok bool) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	if len(line) < 66 || (line[64:66] != "  " && line[64:66] != " *") {
		return "", "", false
	}
	sum, file = strings.ToLower(line[:64]), line[66:]
	if _, err := hex.DecodeString(sum); err != nil || file == "" {
		return "", "", false
	}
	if escaped {
		file = unescapeSumPath(file)
	}
	return sum, file, true
}

func unescapeSumPath(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
