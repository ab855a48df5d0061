package gateway

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"gatehouse/internal/workspace"
)

// soulWatch checks SOUL.md against the baseline `gatehouse soul lock`
// recorded: at start, after every reload and before every daily
// self-audit. A drift is logged at error level each time it is seen and
// sent to the owners once per drifted content for as long as the gateway
// runs (so once more after a restart). It does not stop the gateway:
// whoever can change SOUL.md must not be able to silence the one who
// would tell the owner.
type soulWatch struct {
	baseline string
	log      *slog.Logger
	// notify queues text for the owners; nil tells nobody.
	notify func(ctx context.Context, text string)

	// mu guards told and serialises checks.
	mu sync.Mutex
	// told is the SHA-256 of the drifted content last reported.
	told string
}

func newSoulWatch(baseline string, log *slog.Logger, notify func(context.Context, string)) *soulWatch {
	return &soulWatch{baseline: baseline, log: log.With(keyComponent, "soul"), notify: notify}
}

// check verifies ws/SOUL.md, logs the verdict and tells the owner about a
// drift they have not heard of. It returns the verdict.
func (w *soulWatch) check(ctx context.Context, ws string) workspace.Soul {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := workspace.Verify(ws, w.baseline)
	if err != nil {
		w.log.Warn("SOUL.md could not be checked against its baseline", keyErr, err)
		return s
	}
	switch s.State {
	case workspace.SoulOK:
		w.told = ""
		w.log.Debug("SOUL.md unchanged since soul lock", "sha256", s.SHA256)
	case workspace.SoulNoBaseline:
		w.told = ""
		w.log.Info("SOUL.md is not locked: run gatehouse soul lock", "path", s.Path, "detail", strings.Join(s.Problems, "; "))
	case workspace.SoulBadMode:
		w.told = ""
		w.log.Warn("SOUL.md is unchanged but no longer locked down", "path", s.Path, "mode", s.Mode, "uid", s.UID,
			"detail", strings.Join(s.Problems, "; "))
	case workspace.SoulDrift:
		w.log.Error("SOUL.md changed since soul lock", "path", s.Path, "lockedSha256", s.Locked, "sha256", s.SHA256,
			"lockedAt", s.LockedAt, "detail", strings.Join(s.Problems, "; "),
			"fix", "if you did not change it: gatehouse incident; if you did: gatehouse soul unlock, review it, gatehouse soul lock")
		key := s.SHA256
		if key == "" {
			key = "gone"
		}
		if w.told != key && w.notify != nil {
			w.notify(ctx, soulDriftText(s))
		}
		w.told = key
	}
	return s
}

// soulDriftText is the owner's message about a drifted SOUL.md.
func soulDriftText(s workspace.Soul) string {
	now := "it is gone or no longer a regular file"
	if s.SHA256 != "" {
		now = "now " + short(s.SHA256)
	}
	return "Gatehouse: SOUL.md, the agent's identity, changed since soul lock (locked " + short(s.Locked) + ", " + now + ").\n" +
		"If you did not change it, treat it as a compromise: on the gateway host run gatehouse incident. " +
		"If you did: gatehouse soul unlock, review it, gatehouse soul lock."
}

// short is the first 12 hex digits of a digest, as git abbreviates.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}
