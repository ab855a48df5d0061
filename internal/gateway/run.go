package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/secret"
	"gatehouse/internal/service"
	"gatehouse/internal/state"
	"gatehouse/internal/store"
	"gatehouse/internal/workspace"
)

// Log file rotation: the log never grows past about 40 MiB on disk.
const (
	logMaxBytes = 10 << 20
	logKeep     = 3
)

// drainTimeout bounds a graceful stop: systemd's TimeoutStopSec and the
// issue's promise are both above it.
const drainTimeout = 10 * time.Second

// ErrRestart is returned by Run when the gateway stopped to be restarted in
// place (SIGUSR1, sent by `gatehouse gateway restart`).
var ErrRestart = errors.New("gateway restart requested")

// RunOptions are the inputs of a gateway process.
type RunOptions struct {
	// Dir is the state directory.
	Dir state.Dir
	// Version is the gatehouse version.
	Version string
	// Console receives human-readable logs (usually stderr); nil for none.
	Console io.Writer
	// Getenv and LookupEnv read the environment.
	Getenv    func(string) string
	LookupEnv func(string) (string, bool)
	// Redactor removes secrets from every log line; the gateway adds the
	// secrets it loads.
	Redactor *secret.Redactor
	// Signals delivers SIGHUP (reload) and SIGUSR1 (restart); nil subscribes
	// to the process's signals.
	Signals <-chan os.Signal
	// OnListen is called with the listener's address once the gateway
	// serves; for tests.
	OnListen func(addr net.Addr)
}

// Run is the gateway process: it takes the state dir lock, loads the
// config, opens the log and the database, listens, and serves until ctx is
// done. SIGHUP reloads the config; an invalid new config keeps the old one
// and logs why.
func Run(ctx context.Context, o RunOptions) (err error) {
	if o.Redactor == nil {
		o.Redactor = secret.NewRedactor()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	notify := service.NewNotifier(o.Getenv)

	if err := o.Dir.Ensure(); err != nil {
		return fmt.Errorf("state dir %s: %w", o.Dir.Root, err)
	}
	lock, err := state.TryLock(o.Dir.Lock())
	if err != nil {
		return err
	}
	defer lock.Close()

	cfg, token, err := loadRuntime(o)
	if err != nil {
		return err
	}
	if err := CheckExposure(cfg, token, secret.EstimateBits); err != nil {
		return err
	}

	hub, err := OpenLogHub(o.Dir.Log(), logMaxBytes, logKeep)
	if err != nil {
		return fmt.Errorf("log %s: %w", o.Dir.Log(), err)
	}
	defer hub.Close()
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.Logging.Level))
	handlers := []slog.Handler{slog.NewJSONHandler(hub, &slog.HandlerOptions{Level: level})}
	if o.Console != nil {
		handlers = append(handlers, slog.NewTextHandler(o.Console, &slog.HandlerOptions{Level: level}))
	}
	log := slog.New(secret.NewHandler(slog.NewMultiHandler(handlers...), o.Redactor))
	// Libraries that write to the standard logger (an SDK reporting a broken
	// stream) go through the same redacting handler, not to raw stderr.
	slog.SetDefault(log)

	db, err := store.Open(ctx, o.Dir.Database())
	if err != nil {
		return fmt.Errorf("database %s: %w", o.Dir.Database(), err)
	}
	defer db.Close()

	addr, err := ListenAddr(cfg)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d is already in use on %s by another program: stop it, or choose another port with gatehouse config set gateway.port N", cfg.Gateway.Port, addr)
		}
		return fmt.Errorf("listen on %s: %w", addr, err)
	}

	rt := newRuntime(o, db, log)
	srv, err := New(Options{
		Config:  cfg,
		Token:   token,
		Version: o.Version,
		Logger:  log,
		Logs:    hub,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv.models = rt.status(srv.config)
	srv.approvals = rt.approvals
	defer rt.sandboxes.close()
	installAgent(srv, rt, cfg)

	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGHUP, syscall.SIGUSR1)
		defer signal.Stop(ch)
		sigs = ch
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Channels: adapters, inbox, access gate, agent, outbox.
	rtr, err := newRouter(runCtx, o, db, log, srv.config, rt.current, rt.resolveSecret)
	if err != nil {
		ln.Close()
		return err
	}
	rt.setNotify(rtr.notifyOwners)
	// SOUL.md against its baseline, now and on reload (soulcheck.go).
	soul := newSoulWatch(workspace.BaselinePath(o.Dir), log, rtr.notifyOwners)
	soul.check(runCtx, rt.workspaceDir(cfg))
	srv.channels = func() any { return map[string]any{"channels": rtr.States()} }
	srv.extra = func() map[string]any { return map[string]any{"channelStates": rtr.States()} }
	routerDone := make(chan struct{})
	go func() {
		defer close(routerDone)
		rtr.Run(runCtx)
	}()
	defer func() { cancel(); <-routerDone }()

	pruneDone := make(chan struct{})
	go func() {
		defer close(pruneDone)
		rt.pruneLoop(runCtx, srv.config)
	}()
	defer func() { cancel(); <-pruneDone }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(runCtx, ln) }()
	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		_ = notify.RunWatchdog(runCtx)
	}()
	defer func() { cancel(); <-wdDone }()

	log.Info("gateway listening", "addr", ln.Addr().String(), "bind", cfg.Gateway.Bind, "pid", os.Getpid(), "version", o.Version)
	if o.OnListen != nil {
		o.OnListen(ln.Addr())
	}
	_ = notify.Ready()
	_ = notify.Status("listening on " + ln.Addr().String())

	// The self-audit: now, daily and after each reload (selfaudit.go).
	audits := newGatewayAudit(o, db, log, rtr, soul, func() string { return rt.workspaceDir(srv.config()) })
	auditDone := make(chan struct{})
	go func() {
		defer close(auditDone)
		audits.loop(runCtx)
	}()
	defer func() { cancel(); <-auditDone }()

	restart := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				_ = notify.Reloading()
				if c, err := reload(o, srv, cfg, log, level); err != nil {
					log.Error("config reload refused; the previous config stays in force", "err", err)
				} else {
					cfg = c
					installAgent(srv, rt, cfg)
					soul.check(runCtx, rt.workspaceDir(cfg))
					audits.kick()
				}
				_ = notify.Ready()
			case syscall.SIGUSR1:
				restart = true
				break loop
			}
		}
	}

	if restart {
		// An in-place restart is a reload to systemd: STOPPING would mark
		// the unit deactivating and have it killed; the re-executed
		// process's READY returns it to active.
		_ = notify.Reloading()
	} else {
		_ = notify.Stopping()
	}
	log.Info("gateway stopping", "restart", restart)
	shutCtx, done := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer done()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown did not drain in time", "err", err)
	}
	cancel()
	if err := <-serveErr; err != nil {
		log.Warn("serve ended with an error", "err", err)
	}
	log.Info("gateway stopped")
	if restart {
		return ErrRestart
	}
	return nil
}

// loadRuntime loads the config and resolves the gateway's auth secret,
// teaching the redactor every secret the config refers to.
func loadRuntime(o RunOptions) (*config.Config, string, error) {
	f, err := config.Load(o.Dir.Config())
	if err != nil {
		return nil, "", fmt.Errorf("config %s: %w", o.Dir.Config(), err)
	}
	if !f.Exists {
		return nil, "", fmt.Errorf("no config at %s: run gatehouse onboard --non-interactive first", o.Dir.Config())
	}
	cfg := f.Config()
	var st *secret.Store
	lookup := func(name string) (string, error) {
		if st == nil {
			s, err := secret.OpenStoreWith(o.Dir.Secrets(), o.Dir.SecretKey(), o.Getenv)
			if err != nil {
				return "", err
			}
			st = s
		}
		return st.Get(name)
	}
	for _, sf := range cfg.Secrets() {
		if v, err := sf.Secret.Resolve(lookup, o.LookupEnv); err == nil {
			o.Redactor.Add(v)
		}
	}
	auth := cfg.Gateway.Auth.Token
	name := "gateway.auth.token"
	if cfg.Gateway.Auth.Mode == "password" {
		auth, name = cfg.Gateway.Auth.Password, "gateway.auth.password"
	}
	if cfg.Gateway.Auth.Mode == "none" {
		return cfg, "", nil // CheckExposure refuses it with the fix.
	}
	token, err := auth.Resolve(lookup, o.LookupEnv)
	if err != nil {
		if errors.Is(err, config.ErrSecretUnset) {
			return nil, "", fmt.Errorf("%s is not set: run gatehouse onboard --non-interactive to create a token", name)
		}
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return cfg, token, nil
}

// reload applies a new config to a running server, following Caddy's order:
// decode strictly, validate, then swap. The listener does not move: a
// changed bind or port is logged and applies at the next start.
func reload(o RunOptions, srv *Server, old *config.Config, log *slog.Logger, level *slog.LevelVar) (*config.Config, error) {
	cfg, token, err := loadRuntime(o)
	if err != nil {
		return nil, err
	}
	if err := CheckExposure(cfg, token, secret.EstimateBits); err != nil {
		return nil, err
	}
	if cfg.Gateway.Bind != old.Gateway.Bind || cfg.Gateway.Port != old.Gateway.Port || cfg.Gateway.CustomBindHost != old.Gateway.CustomBindHost {
		log.Warn("gateway.bind and gateway.port apply at the next start: run gatehouse gateway restart",
			"bind", cfg.Gateway.Bind, "port", strconv.Itoa(cfg.Gateway.Port))
	}
	level.Set(parseLevel(cfg.Logging.Level))
	srv.Reload(cfg, token)
	log.Info("config reloaded")
	return cfg, nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// installAgent applies cfg to the agent runtime and gives the server the
// agent, or the reason there is none.
func installAgent(srv *Server, rt *agentRuntime, cfg *config.Config) {
	a, why := rt.apply(cfg)
	if a == nil {
		srv.SetAgent(nil, why)
		return
	}
	srv.SetAgent(a, "")
}
