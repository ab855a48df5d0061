package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gatehouse/internal/state"
	"gatehouse/internal/workspace"
)

// fsIDs are the checks of the state tree walk.
func fsIDs() []string {
	return []string{CheckStateDirMode, CheckConfigMode, CheckDatabaseMode, CheckSecretsMode, CheckLogsMode,
		CheckWorkspaceMode, CheckOtherMode, CheckOwner, CheckSymlinkOutside, CheckUnreadable}
}

// specialBits are mode bits never wanted in the state tree.
const specialBits = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// maxWorkspaceEntries bounds the walk of a workspace outside the state
// directory, which may be a large project tree.
const maxWorkspaceEntries = 20000

// tree describes the state directory being checked.
type tree struct {
	root    string // as given
	real    string // symlinks resolved
	euid    int
	wantUID int // the owner entries should have
	wantGID int
	ws      string // the workspace, as configured (for the baseline)
	soul    string // SOUL.md, symlinks in its directory resolved
	wsRel   string // the workspace relative to real, "" when outside
}

// owner is who the audit expects to own the state tree: the current user,
// or, when the audit runs as root, whoever owns the state directory, so
// that root may audit a service user's directory.
func (a *auditor) newTree(e *configEnv) (*tree, error) {
	fi, err := os.Stat(a.dir.Root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", a.dir.Root)
	}
	real, err := filepath.EvalSymlinks(a.dir.Root)
	if err != nil {
		return nil, err
	}
	t := &tree{root: a.dir.Root, real: real, euid: os.Geteuid()}
	t.wantUID, t.wantGID = t.euid, os.Getegid()
	if uid, gid, ok := fileOwner(fi); ok && t.euid == 0 {
		t.wantUID, t.wantGID = uid, gid
	}
	ws := a.dir.Workspace()
	if e != nil {
		ws = e.workspace
	}
	wsReal := ws
	if r, err := filepath.EvalSymlinks(ws); err == nil {
		wsReal = r
	}
	t.ws = ws
	t.soul = filepath.Join(wsReal, "SOUL.md")
	if rel, err := filepath.Rel(real, wsReal); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		t.wsRel = rel
	}
	return t, nil
}

// shown is path (under real) as a path under the root as given.
func (t *tree) shown(path string) string {
	rel, err := filepath.Rel(t.real, path)
	if err != nil || rel == "." {
		return t.root
	}
	return filepath.Join(t.root, rel)
}

// subject names path in findings: relative to the state directory, "."
// for the directory itself, absolute outside it.
func (t *tree) subject(path string) string {
	rel, err := filepath.Rel(t.real, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return filepath.ToSlash(rel)
}

// modeCheck picks the check that owns a mode problem at rel.
func (t *tree) modeCheck(rel string) string {
	under := func(dir string) bool {
		return dir != "" && dir != "." && (rel == dir || strings.HasPrefix(rel, dir+"/"))
	}
	switch {
	case rel == ".":
		return CheckStateDirMode
	case rel == "gatehouse.json" || strings.HasPrefix(rel, "gatehouse.json."):
		return CheckConfigMode
	case rel == "gatehouse.db" || strings.HasPrefix(rel, "gatehouse.db-"):
		return CheckDatabaseMode
	case rel == "secret.key" || rel == "secrets.age" || strings.HasPrefix(rel, "secrets.age."):
		return CheckSecretsMode
	case under("logs"):
		return CheckLogsMode
	case under(filepath.ToSlash(t.wsRel)):
		return CheckWorkspaceMode
	}
	return CheckOtherMode
}

// entryProblem is one thing wrong with one entry of the state tree, with
// what the fixer would do about it.
type entryProblem struct {
	path    string // real path
	finding Finding
	chmod   fs.FileMode // mode to set, 0 for none
	chown   bool        // set the owner to the tree's owner
}

// scanTree walks the state tree without following symlinks and returns
// its problems in walk order (a directory before its contents).
func (a *auditor) scanTree(t *tree, plaintextConfig bool) []entryProblem {
	var out []entryProblem
	add := func(p entryProblem) { out = append(out, p) }
	filepath.WalkDir(t.real, func(path string, d fs.DirEntry, walkErr error) error {
		rel := t.subject(path)
		if walkErr != nil {
			add(entryProblem{path: path, finding: Finding{CheckID: CheckUnreadable, Subject: rel, Severity: SeverityWarn,
				Detail:      "cannot read it: " + state.ErrText(walkErr),
				Remediation: "ls -la " + t.shown(path) + ", then fix its owner or mode"}})
			if d != nil && d.IsDir() && path != t.real {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			add(entryProblem{path: path, finding: Finding{CheckID: CheckUnreadable, Subject: rel, Severity: SeverityWarn,
				Detail: "cannot read it: " + state.ErrText(err), Remediation: "ls -la " + t.shown(path)}})
			return nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, outside := state.SymlinkOutside(path, t.real); outside {
				add(entryProblem{path: path, finding: Finding{CheckID: CheckSymlinkOutside, Subject: rel, Severity: SeverityWarn,
					Detail:      "symlink to " + target + ", outside the state directory: what the gateway reads or writes there is not protected by the state directory's modes",
					Remediation: "rm " + t.shown(path) + " and put the file itself there"}})
			}
			return nil
		}
		if path == t.soul {
			return nil // soulChecks: root-owned 0444 is how a locked SOUL.md looks
		}
		uid, _, hasOwner := fileOwner(fi)
		otherOwner := hasOwner && uid != t.wantUID
		if otherOwner {
			sev := SeverityWarn
			detail := fmt.Sprintf("owned by uid %d, not uid %d, which owns the state directory and runs the gateway: that user can change it", uid, t.wantUID)
			if path == t.real {
				sev = SeverityCritical
				detail = fmt.Sprintf("the state directory is owned by uid %d, not by you (uid %d): that user can change your config and read your secrets", uid, t.euid)
			}
			add(entryProblem{path: path, chown: t.euid == 0, finding: Finding{CheckID: CheckOwner, Subject: rel, Severity: sev,
				Detail: detail, Remediation: fmt.Sprintf("sudo chown %d:%d %s", t.wantUID, t.wantGID, t.shown(path)), Fixable: t.euid == 0}})
		}
		mode := fi.Mode() & (fs.ModePerm | specialBits)
		if mode&(0o077|specialBits) == 0 {
			return nil
		}
		want := state.FileMode
		if fi.IsDir() {
			want = state.DirMode
		}
		id := t.modeCheck(rel)
		sev := SeverityWarn
		who := "group or others can access it"
		if mode&0o007 != 0 {
			who = "every user on this host can access it"
		}
		detail := fmt.Sprintf("mode %s, want %s: %s", octal(mode), octal(want), who)
		switch {
		case rel == "secret.key" && mode&0o077 != 0:
			sev = SeverityCritical
			detail += "; the key opens every secret in the store"
		case id == CheckConfigMode && mode&0o044 != 0 && plaintextConfig:
			sev = SeverityCritical
			detail += "; the config holds a plaintext secret"
		}
		fixable := !hasOwner || uid == t.euid || t.euid == 0
		add(entryProblem{path: path, chmod: want, finding: Finding{CheckID: id, Subject: rel, Severity: sev, Detail: detail,
			Remediation: fmt.Sprintf("chmod %s %s", strings.TrimPrefix(octal(want), "0"), t.shown(path)), Fixable: fixable}})
		return nil
	})
	return out
}

func (a *auditor) fsChecks(ctx context.Context, r *results, e *configEnv) {
	t, err := a.newTree(e)
	if err != nil {
		r.add(Finding{CheckID: CheckStateDirMissing, Subject: ".", Severity: SeverityWarn,
			Detail:      fmt.Sprintf("%s: %s; there is nothing to audit", a.dir.Root, state.ErrText(err)),
			Remediation: a.cmd + " onboard --non-interactive"})
		for _, id := range fsIDs() {
			r.skip(id, "the state directory does not exist")
		}
		for _, id := range []string{CheckWorkspaceWritable, CheckSoulMissing, CheckSoulWritable, CheckSoulUnlocked, CheckSoulIntegrity} {
			r.skip(id, "the state directory does not exist")
		}
		return
	}
	r.pass(CheckStateDirMissing, t.root)
	plaintext := e != nil && len(e.cfg.PlaintextSecrets()) > 0
	for _, p := range a.scanTree(t, plaintext) {
		r.add(p.finding)
	}
	for _, id := range fsIDs() {
		r.pass(id, "")
	}
	r.pass(CheckStateDirMode, "directories 700, files 600")

	if t.wsRel == "" {
		if ps := a.scanWorkspace(t); len(ps) > 0 {
			var names []string
			for _, p := range ps {
				names = append(names, p.path)
			}
			r.add(Finding{CheckID: CheckWorkspaceWritable, Subject: t.soulDir(), Severity: SeverityWarn,
				Detail:      fmt.Sprintf("%d entries are writable by group or others, e.g. %s: another user can change what the agent reads as its instructions", len(ps), strings.Join(first(names, 3), ", ")),
				Remediation: "chmod -R go-w " + t.soulDir(), Fixable: true})
		} else {
			r.pass(CheckWorkspaceWritable, "")
		}
	} else {
		r.pass(CheckWorkspaceWritable, "the workspace is in the state directory")
	}
	a.soulChecks(r, t)
}

// soulMode says what mode SOUL.md should have, and whether it has
// another: never writable by group or others; in the state directory,
// 0600 like every file there unless it is locked (read-only for everyone,
// as gatehouse soul lock leaves it).
func (t *tree) soulMode(fi fs.FileInfo) (fs.FileMode, bool) {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return 0, false
	}
	mode := fi.Mode().Perm()
	if t.wsRel != "" && mode&0o222 != 0 && mode&0o077 != 0 {
		return state.FileMode, true
	}
	return mode &^ 0o022, mode&0o022 != 0
}

// soulDir is the workspace directory (symlinks resolved).
func (t *tree) soulDir() string { return filepath.Dir(t.soul) }

// scanWorkspace lists the entries of a workspace outside the state
// directory that group or others can write, and that the fixer may make
// read-only for them: those the tree's owner owns.
func (a *auditor) scanWorkspace(t *tree) []entryProblem {
	var out []entryProblem
	n := 0
	filepath.WalkDir(t.soulDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if n++; n > maxWorkspaceEntries {
			return fs.SkipAll
		}
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		if fi.Mode().Perm()&0o022 != 0 {
			out = append(out, entryProblem{path: path, chmod: fi.Mode().Perm() &^ 0o022})
		}
		return nil
	})
	return out
}

func (a *auditor) soulChecks(r *results, t *tree) {
	subject := t.subject(t.soul)
	fi, err := os.Lstat(t.soul)
	if errors.Is(err, fs.ErrNotExist) {
		r.add(Finding{CheckID: CheckSoulMissing, Subject: subject, Severity: SeverityWarn,
			Detail: t.soul + " does not exist: the agent runs without its identity and boundaries", Remediation: a.cmd + " onboard --non-interactive"})
		for _, id := range []string{CheckSoulWritable, CheckSoulUnlocked, CheckSoulIntegrity} {
			r.skip(id, "SOUL.md is missing")
		}
		return
	}
	if err != nil {
		r.add(Finding{CheckID: CheckUnreadable, Subject: subject, Severity: SeverityWarn, Detail: "cannot read it: " + state.ErrText(err),
			Remediation: "ls -la " + t.soul})
		return
	}
	r.pass(CheckSoulMissing, "")
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := filepath.EvalSymlinks(t.soul)
		r.add(Finding{CheckID: CheckSoulWritable, Subject: subject, Severity: SeverityWarn,
			Detail:      "SOUL.md is a symlink to " + target + ": whoever can write there controls the agent's identity",
			Remediation: "replace the symlink with the file itself, then sudo " + a.cmd + " soul lock"})
	}
	mode := fi.Mode().Perm()
	uid, _, hasOwner := fileOwner(fi)
	if want, bad := t.soulMode(fi); bad {
		detail := fmt.Sprintf("mode %s: group or others can rewrite the agent's identity and boundaries", octal(mode))
		if mode&0o022 == 0 {
			detail = fmt.Sprintf("mode %s, want %s like everything in the state directory (or locked read-only by %s soul lock)", octal(mode), octal(want), a.cmd)
		}
		r.add(Finding{CheckID: CheckSoulWritable, Subject: subject, Severity: SeverityWarn, Detail: detail,
			Remediation: fmt.Sprintf("chmod %s %s, then sudo %s soul lock", strings.TrimPrefix(octal(want), "0"), t.soul, a.cmd),
			Fixable:     !hasOwner || uid == t.euid || t.euid == 0})
	} else {
		r.pass(CheckSoulWritable, "mode "+octal(mode))
	}
	if hasOwner && uid != 0 && uid != t.wantUID {
		r.add(Finding{CheckID: CheckOwner, Subject: subject, Severity: SeverityWarn,
			Detail:      fmt.Sprintf("SOUL.md is owned by uid %d, neither root nor the gateway's user (uid %d): that user can rewrite the agent's identity", uid, t.wantUID),
			Remediation: "sudo " + a.cmd + " soul lock", Fixable: false})
	}
	a.soulBaseline(r, t, subject, fmt.Sprintf("mode %s, uid %d", octal(mode), uid))
}

// soulBaseline compares SOUL.md with the baseline `gatehouse soul lock`
// recorded (workspace.Verify, the same check the gateway runs at start).
func (a *auditor) soulBaseline(r *results, t *tree, subject, now string) {
	s, err := workspace.Verify(t.ws, workspace.BaselinePath(a.dir))
	if err != nil {
		r.skip(CheckSoulIntegrity, "cannot compare SOUL.md with its baseline: "+err.Error())
		r.skip(CheckSoulUnlocked, "cannot read the baseline: "+err.Error())
		return
	}
	problems := strings.Join(s.Problems, "; ")
	switch s.State {
	case workspace.SoulOK:
		r.pass(CheckSoulIntegrity, "matches the baseline of "+s.LockedAt.Format("2006-01-02")+" (sha256 "+shorten(s.SHA256, 12)+")")
		r.pass(CheckSoulUnlocked, fmt.Sprintf("locked: mode %s, uid %d", s.Mode, s.UID))
	case workspace.SoulNoBaseline:
		r.skip(CheckSoulIntegrity, "no baseline recorded ("+a.cmd+" soul lock records one)")
		r.add(Finding{CheckID: CheckSoulUnlocked, Subject: subject, Severity: SeverityInfo,
			Detail:      fmt.Sprintf("baseline missing: run %s soul lock (SOUL.md is %s and nothing records what it should say; the seed guides make it read-only and root-owned, with a sha256 baseline)", a.cmd, now),
			Remediation: "sudo " + a.cmd + " soul lock"})
	case workspace.SoulBadMode:
		r.pass(CheckSoulIntegrity, "the content matches the baseline")
		r.add(Finding{CheckID: CheckSoulUnlocked, Subject: subject, Severity: SeverityWarn,
			Detail:      "SOUL.md matches its baseline but is no longer locked down: " + problems,
			Remediation: "sudo " + a.cmd + " soul lock"})
	default: // drift
		r.pass(CheckSoulUnlocked, "")
		r.add(Finding{CheckID: CheckSoulIntegrity, Subject: subject, Severity: SeverityCritical,
			Detail:      problems + ". Someone or something changed the agent's identity and boundaries",
			Remediation: "if you did not change it: " + a.cmd + " incident; if you did: " + a.cmd + " soul unlock, review it, then sudo " + a.cmd + " soul lock"})
	}
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

func first[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}
