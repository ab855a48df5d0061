package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// EnvStateDir names the environment variable that chooses the state
// directory when no flag does.
const EnvStateDir = "GATEHOUSE_STATE_DIR"

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Dir is a gateway state directory. Root is absolute and clean when the Dir
// comes from [Resolve]. The methods only build paths; they do no I/O.
type Dir struct {
	Root string
}

// Resolve finds the state directory. In order of precedence: flagDir, the
// GATEHOUSE_STATE_DIR variable (looked up with getenv, which may be nil),
// home/.gatehouse-PROFILE when profile is set, and home/.gatehouse. A leading
// "~/" in flagDir or the variable stands for home. Relative paths are made
// absolute against the working directory.
//
// A non-empty profile must match ^[a-z0-9][a-z0-9_-]{0,31}$, even when
// flagDir or the variable wins, so a mistyped profile never passes silently.
func Resolve(flagDir, profile string, getenv func(string) string, home string) (Dir, error) {
	if profile != "" && !profileName.MatchString(profile) {
		return Dir{}, fmt.Errorf("profile name %q must match ^[a-z0-9][a-z0-9_-]{0,31}$: use lowercase letters, digits, _ and -, at most 32 characters", profile)
	}
	dir := flagDir
	if dir == "" && getenv != nil {
		dir = getenv(EnvStateDir)
	}
	if dir != "" {
		expanded, err := expandHome(dir, home)
		if err != nil {
			return Dir{}, err
		}
		return absDir(expanded)
	}
	if home == "" {
		return Dir{}, errors.New("cannot find the home directory for the state dir: set HOME or " + EnvStateDir)
	}
	name := ".gatehouse"
	if profile != "" {
		name += "-" + profile
	}
	return absDir(filepath.Join(home, name))
}

func expandHome(dir, home string) (string, error) {
	if dir != "~" && !strings.HasPrefix(dir, "~/") {
		return dir, nil
	}
	if home == "" {
		return "", fmt.Errorf("state dir %q starts with ~ but the home directory is unknown: give an absolute path", dir)
	}
	return filepath.Join(home, strings.TrimPrefix(dir, "~")), nil
}

func absDir(path string) (Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Dir{}, fmt.Errorf("state dir %q: %w", path, err)
	}
	return Dir{Root: abs}, nil
}

// Config is the configuration file, gatehouse.json.
func (d Dir) Config() string { return filepath.Join(d.Root, "gatehouse.json") }

// Database is the SQLite database, gatehouse.db.
func (d Dir) Database() string { return filepath.Join(d.Root, "gatehouse.db") }

// LogDir is the directory that holds the log files.
func (d Dir) LogDir() string { return filepath.Join(d.Root, "logs") }

// Log is the gateway's JSON log file.
func (d Dir) Log() string { return filepath.Join(d.LogDir(), "gatehouse.log") }

// Secrets is the age-encrypted secret store.
func (d Dir) Secrets() string { return filepath.Join(d.Root, "secrets.age") }

// SecretKey is the age identity that opens [Dir.Secrets].
func (d Dir) SecretKey() string { return filepath.Join(d.Root, "secret.key") }

// Lock is the single-gateway lock file; see [TryLock].
func (d Dir) Lock() string { return filepath.Join(d.Root, "gateway.lock") }

// Workspace is the agent's workspace directory.
func (d Dir) Workspace() string { return filepath.Join(d.Root, "workspace") }

// Ensure creates Root and the log directory with mode 0700. Directories that
// already exist keep their mode: tightening them is [FixTree]'s job, and
// Ensure never loosens anything.
func (d Dir) Ensure() error {
	if d.Root == "" {
		return errors.New("state dir has no root: resolve it with state.Resolve")
	}
	if err := MkdirPrivate(d.Root); err != nil {
		return err
	}
	return MkdirPrivate(d.LogDir())
}
