package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/tailscale/hujson"

	"gatehouse/internal/config"
	"gatehouse/internal/secret"
	"gatehouse/internal/workspace"
)

// configEnv is the configuration under audit and what resolves its
// secrets.
type configEnv struct {
	cfg *config.Config
	// file is the strictly loaded file, which the fixers edit; nil when
	// the config was read leniently because it fails validation.
	file *config.File
	// workspace is the resolved workspace directory.
	workspace string
	// lookup resolves {"secret": NAME}; it opens the store on first use.
	lookup config.SecretLookup
}

// load reads the config of the state dir: strictly when it validates, else
// leniently (every section that decodes), so that a config the gateway
// refuses is still audited. It returns nil when there is nothing to audit.
func (a *auditor) load(r *results) *configEnv {
	path := a.dir.Config()
	if _, err := os.Stat(a.dir.Root); err != nil {
		r.skip(CheckConfigMissing, "the state directory does not exist")
		return nil
	}
	f, err := config.Load(path)
	switch {
	case err == nil && !f.Exists:
		r.add(Finding{CheckID: CheckConfigMissing, Subject: "gatehouse.json", Severity: SeverityWarn,
			Detail:      path + " does not exist; the config checks need it",
			Remediation: a.cmd + " onboard --non-interactive"})
		return nil
	case err == nil:
		r.pass(CheckConfigMissing, "")
		r.pass(CheckConfigUnreadable, "")
		r.pass(CheckConfigInvalid, "the config passes validation")
		return a.newEnv(f.Config(), f)
	}
	r.pass(CheckConfigMissing, "")
	data, rerr := os.ReadFile(path)
	var cfg *config.Config
	if rerr == nil {
		cfg, rerr = lenientDecode(data)
	}
	if rerr != nil {
		r.add(Finding{CheckID: CheckConfigUnreadable, Subject: "gatehouse.json", Severity: SeverityCritical,
			Detail: err.Error(), Remediation: a.cmd + " config validate, then fix the file at the position shown"})
		return nil
	}
	r.pass(CheckConfigUnreadable, "")
	r.add(Finding{CheckID: CheckConfigInvalid, Subject: "gatehouse.json", Severity: SeverityWarn,
		Detail:      "the gateway refuses this config (" + fieldErrors(err) + "); the audit read what it could, and --fix cannot edit the file until it validates",
		Remediation: a.cmd + " config validate, then correct each key it names"})
	return a.newEnv(cfg, nil)
}

func (a *auditor) newEnv(cfg *config.Config, f *config.File) *configEnv {
	e := &configEnv{cfg: cfg, file: f,
		workspace: workspace.Resolve(cfg.Agents.Defaults.Workspace, a.dir.Workspace(), a.home)}
	if a.opts.Secrets != nil {
		e.lookup = a.opts.Secrets
		return e
	}
	open := sync.OnceValues(func() (*secret.Store, error) {
		// Opening a store whose key is missing would create a key: the
		// audit only reads, so a missing store is an empty one.
		if _, err := os.Stat(a.dir.Secrets()); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the secret store %s does not exist", a.dir.Secrets())
		}
		return secret.OpenStoreWith(a.dir.Secrets(), a.dir.SecretKey(), a.getenv)
	})
	e.lookup = func(name string) (string, error) {
		s, err := open()
		if err != nil {
			return "", err
		}
		return s.Get(name)
	}
	return e
}

// fieldErrors lists the paths of the schema errors in err, or its text.
func fieldErrors(err error) string {
	var paths []string
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*config.FieldError); ok {
			p := fe.Path
			if p == "" {
				p = fe.Problem
			}
			paths = append(paths, p)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	if len(paths) == 0 {
		return err.Error()
	}
	return strings.Join(paths, ", ")
}

// lenientDecode reads a config that fails the strict load: JWCC, unknown
// keys ignored, each top-level section decoded on its own on top of the
// defaults, so a bad value loses at most the rest of its section.
func lenientDecode(data []byte) (*config.Config, error) {
	v, err := hujson.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config is not valid JSON (comments and trailing commas are allowed): %w", err)
	}
	v.Standardize()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(v.Pack(), &top); err != nil {
		return nil, errors.New("the config is not a JSON object")
	}
	cfg := config.Default()
	for k, raw := range top {
		one, err := json.Marshal(map[string]json.RawMessage{k: raw})
		if err != nil {
			continue
		}
		_ = json.Unmarshal(one, cfg) // best effort by design
	}
	return cfg, nil
}
