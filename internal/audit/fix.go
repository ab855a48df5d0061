package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"gatehouse/internal/state"
	"io/fs"
	"os"

	"gatehouse/internal/config"
)

// configFix is the repair of one fixable config finding: set the subject's
// key to value, or unset it when unset is true.
type configFix struct {
	key   string
	value string
	unset bool
}

// configFixFor returns the repair of f, if it is a config fix.
func configFixFor(f Finding) (configFix, bool) {
	switch f.CheckID {
	case CheckControlUIInsecure:
		return configFix{key: "gateway.controlUi.allowInsecureAuth", value: "false"}, true
	case CheckMDNS:
		return configFix{key: "discovery.mdns.mode", value: "off"}, true
	case CheckRedaction:
		return configFix{key: "logging.redactSensitive", value: "tools"}, true
	case CheckGroupPolicyOpen:
		return configFix{key: f.Subject, value: "allowlist"}, true
	case CheckConfigWrites:
		return configFix{key: f.Subject, value: "false"}, true
	case CheckSandboxLimits:
		return configFix{key: f.Subject, unset: true}, true
	}
	return configFix{}, false
}

// fix repairs the fixable findings of r and returns what it changed. It
// never rotates a secret and never touches gateway.bind: neither check is
// fixable.
func (a *auditor) fix(ctx context.Context, r *results) []Change {
	// Files first: saving the config rewrites it 0600, which would hide
	// its mode repair from the list of changes.
	changes := a.fixFS()
	var cfgFixes []Finding
	for _, f := range r.findings {
		if _, ok := configFixFor(f); ok && f.Fixable {
			cfgFixes = append(cfgFixes, f)
		}
	}
	if len(cfgFixes) > 0 && ctx.Err() == nil {
		changes = append(changes, a.fixConfig(cfgFixes)...)
	}
	return changes
}

// fixConfig applies the config repairs to the file and saves it once
// (atomically, 0600, keeping gatehouse.json.bak).
func (a *auditor) fixConfig(fixes []Finding) []Change {
	env := a.load(newResults())
	var changes []Change
	if env == nil || env.file == nil {
		for _, f := range fixes {
			changes = append(changes, Change{CheckID: f.CheckID, Subject: f.Subject, Action: "not changed", Config: true,
				Error: "the config does not validate, so it is not edited: " + a.cmd + " config validate"})
		}
		return changes
	}
	file := env.file
	for _, f := range fixes {
		fx, _ := configFixFor(f)
		old := jsonValue(file, fx.key)
		c := Change{CheckID: f.CheckID, Subject: fx.key, Config: true}
		var err error
		if fx.unset {
			err = file.Unset(fx.key)
		} else {
			err = file.Set(fx.key, fx.value)
		}
		c.Action = old + " → " + jsonValue(file, fx.key)
		if fx.unset {
			c.Action += " (the default)"
		}
		if err != nil {
			c.Action, c.Error = old+" → "+fx.value, err.Error()
		}
		changes = append(changes, c)
	}
	if err := file.Save(); err != nil {
		for i := range changes {
			if changes[i].Error == "" {
				changes[i].Error = "not saved: " + err.Error()
			}
		}
	}
	return changes
}

// jsonValue is the effective value at key as JSON, for the change list.
func jsonValue(f *config.File, key string) string {
	v, err := f.Get(key)
	if err != nil || v == nil {
		return "unset"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// fixFS repairs modes and, as root, owners in the state tree, and takes
// group and others' write access away from SOUL.md and a workspace outside
// the state directory. It walks again rather than trusting the first
// audit's paths, and fixes a directory before the entries in it, so once a
// directory is 0700 no other user can swap an entry in it before the entry
// is fixed. It never follows a symlink.
func (a *auditor) fixFS() []Change {
	env := a.load(newResults())
	t, err := a.newTree(env)
	if err != nil {
		return nil
	}
	var changes []Change
	for _, p := range a.scanTree(t, false) {
		if !p.finding.Fixable {
			continue
		}
		if p.chown {
			changes = append(changes, a.chown(t, p))
		}
		if p.chmod != 0 {
			changes = append(changes, chmodChange(p.path, p.finding.CheckID, p.finding.Subject, p.chmod))
		}
	}
	if fi, err := os.Lstat(t.soul); err == nil {
		if want, bad := t.soulMode(fi); bad {
			if uid, _, ok := fileOwner(fi); !ok || uid == t.euid || t.euid == 0 {
				changes = append(changes, chmodChange(t.soul, CheckSoulWritable, t.subject(t.soul), want))
			}
		}
	}
	if t.wsRel == "" {
		for _, p := range a.scanWorkspace(t) {
			if p.path == t.soul {
				continue
			}
			changes = append(changes, chmodChange(p.path, CheckWorkspaceWritable, p.path, p.chmod))
		}
	}
	return changes
}

func (a *auditor) chown(t *tree, p entryProblem) Change {
	c := Change{CheckID: CheckOwner, Subject: p.finding.Subject, Action: fmt.Sprintf("owner → %d:%d", t.wantUID, t.wantGID)}
	fi, err := os.Lstat(p.path)
	switch {
	case err != nil:
		c.Error = state.ErrText(err)
	case fi.Mode()&fs.ModeSymlink != 0:
		c.Error = "it became a symlink; left alone"
	default:
		if uid, _, ok := fileOwner(fi); ok {
			c.Action = fmt.Sprintf("owner %d → %d:%d", uid, t.wantUID, t.wantGID)
		}
		if err := os.Lchown(p.path, t.wantUID, t.wantGID); err != nil {
			c.Error = state.ErrText(err)
		}
	}
	return c
}

// chmodChange sets path's mode to want unless it has become a symlink.
func chmodChange(path, id, subject string, want fs.FileMode) Change {
	c := Change{CheckID: id, Subject: subject}
	fi, err := os.Lstat(path)
	if err != nil {
		c.Action, c.Error = "mode → "+octal(want), state.ErrText(err)
		return c
	}
	c.Action = fmt.Sprintf("mode %s → %s", octal(fi.Mode()&(fs.ModePerm|specialBits)), octal(want))
	if fi.Mode()&fs.ModeSymlink != 0 {
		c.Error = "it became a symlink; left alone"
		return c
	}
	if err := os.Chmod(path, want); err != nil {
		c.Error = state.ErrText(err)
	}
	return c
}
