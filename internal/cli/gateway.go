package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/gateway"
	"gatehouse/internal/state"
)

func newGatewayCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run and control the gateway",
		Example: `  gatehouse gateway run
  gatehouse gateway status
  gatehouse gateway call health`,
	}
	cmd.AddCommand(newGatewayRunCmd(e), newGatewayStatusCmd(e), newGatewayCallCmd(e),
		newGatewayStopCmd(e), newGatewayRestartCmd(e))
	return cmd
}

func newGatewayRunCmd(e *env) *cobra.Command {
	var dev bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the gateway in the foreground",
		Long: `Run the gateway in the foreground until SIGTERM or Ctrl-C. It listens on
gateway.bind:gateway.port (127.0.0.1:18789 by default), logs JSON to
<state dir>/logs/gatehouse.log and readable lines to stderr.

SIGHUP reloads the config (an invalid one is refused and the old one kept);
under systemd it speaks sd_notify (READY, RELOADING, STOPPING, WATCHDOG).
--dev onboards first when the state dir is empty.`,
		Example: `  gatehouse gateway run
  gatehouse gateway run --dev`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			if dev && !fileExists(d.Config()) {
				if _, err := e.onboard(cmd.Context(), onboardOptions{nonInteractive: true, mode: "local"}); err != nil {
					return err
				}
				e.warnf("onboarded %s\n", d.Root)
			}
			err = gateway.Run(cmd.Context(), gateway.RunOptions{
				Dir:       d,
				Version:   version,
				Console:   e.stderr,
				Getenv:    e.getenv,
				LookupEnv: e.lookupEnv,
				Redactor:  e.redactor,
			})
			if errors.Is(err, gateway.ErrRestart) {
				return reexec()
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&dev, "dev", false, "onboard with the defaults first if the state dir has no config")
	return cmd
}

// reexec replaces the process with a fresh gatehouse with the same
// arguments: an in-place restart that keeps the PID a service manager or
// terminal watches.
func reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}

// gatewayState is what `gateway status --json` prints.
type gatewayState struct {
	Running  bool           `json:"running"`
	PID      int            `json:"pid,omitempty"`
	URL      string         `json:"url"`
	Remote   bool           `json:"remote"`
	Healthy  bool           `json:"healthy"`
	Error    string         `json:"error,omitempty"`
	Status   map[string]any `json:"status,omitempty"`
	StateDir string         `json:"stateDir"`
}

// probeGateway asks the gateway for its status, without failing when it is
// not running.
func (e *env) probeGateway(ctx context.Context) (gatewayState, error) {
	d, _, t, err := e.gatewayTarget()
	if err != nil {
		return gatewayState{}, err
	}
	gs := gatewayState{URL: t.httpURL, Remote: t.remote, StateDir: d.Root}
	if !t.remote {
		if pid, err := state.LockHolder(d.Lock()); err == nil && pid > 0 {
			gs.PID = pid
			gs.Running = true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var st map[string]any
	if err := e.call(ctx, "status", nil, &st); err != nil {
		if !isNotRunning(err) {
			gs.Error = e.redactor.Redact(err.Error())
		}
		return gs, nil
	}
	gs.Running, gs.Healthy, gs.Status = true, true, st
	return gs, nil
}

func newGatewayStatusCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Short:   "Show whether the gateway runs and answers",
		Example: "  gatehouse gateway status --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gs, err := e.probeGateway(cmd.Context())
			if err != nil {
				return err
			}
			if e.json {
				if err := e.printJSON(gs); err != nil {
					return err
				}
			} else {
				e.renderGatewayState(gs)
			}
			if !gs.Healthy {
				return &codeError{code: exitError}
			}
			return nil
		},
	}
}

func (e *env) renderGatewayState(gs gatewayState) {
	switch {
	case gs.Healthy:
		e.printf("gateway: running, healthy (%s", gs.URL)
		if pid, ok := gs.Status["pid"]; ok {
			e.printf(", pid %v", pid)
		}
		e.printf(")\n")
		if v, ok := gs.Status["version"]; ok {
			e.printf("version: %v\n", v)
		}
		if v, ok := gs.Status["uptimeSeconds"]; ok {
			e.printf("uptime:  %vs\n", v)
		}
	case gs.Running:
		e.printf("gateway: running (pid %d) but not answering on %s\n", gs.PID, gs.URL)
		if gs.Error != "" {
			e.printf("error:   %s\n", gs.Error)
		}
	default:
		e.printf("gateway: not running (%s)\n", gs.URL)
		if gs.Error != "" {
			e.printf("error:   %s\n", gs.Error)
		} else {
			e.printf("start it with: gatehouse gateway run\n")
		}
	}
}

func newGatewayCallCmd(e *env) *cobra.Command {
	var params string
	cmd := &cobra.Command{
		Use:   "call METHOD",
		Short: "Call a gateway RPC method and print its result as JSON",
		Example: `  gatehouse gateway call health
  gatehouse gateway call logs.tail --params '{"lines": 20}'`,
		Args: exactArgs(1, "METHOD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p any
			if params != "" {
				var raw json.RawMessage
				if err := json.Unmarshal([]byte(params), &raw); err != nil {
					return usageErrorf("--params is not JSON: %v", err)
				}
				p = raw
			}
			var out json.RawMessage
			if err := e.call(cmd.Context(), args[0], p, &out); err != nil {
				return err
			}
			var v any
			if len(out) > 0 {
				if err := json.Unmarshal(out, &v); err != nil {
					return err
				}
			}
			return e.printJSON(v)
		},
	}
	cmd.Flags().StringVar(&params, "params", "", "method parameters as a JSON object")
	return cmd
}

// signalGateway sends sig to the gateway holding the state dir lock.
func (e *env) signalGateway(ctx context.Context, sig syscall.Signal) (int, error) {
	d, err := e.dir()
	if err != nil {
		return 0, err
	}
	pid, err := state.LockHolder(d.Lock())
	if err != nil {
		return 0, err
	}
	if pid == 0 {
		return 0, &codeError{code: exitError, err: fmt.Errorf("no gateway is running on %s", d.Root)}
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return pid, fmt.Errorf("signal gateway pid %d: %w", pid, err)
	}
	return pid, nil
}

func newGatewayStopCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "stop",
		Short:   "Stop the running gateway",
		Example: "  gatehouse gateway stop",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			pid, err := stopGateway(cmd.Context(), d, 15*time.Second)
			if err != nil {
				return err
			}
			if pid == 0 {
				return &codeError{code: exitError, err: fmt.Errorf("no gateway is running on %s", d.Root)}
			}
			if e.json {
				return e.printJSON(map[string]any{"stopped": true, "pid": pid})
			}
			e.printf("stopped gateway (pid %d)\n", pid)
			return nil
		},
	}
}

// stopGateway sends SIGTERM to the gateway holding d's lock and waits up
// to timeout for it to release the lock. It returns the gateway's PID, 0
// when none runs.
func stopGateway(ctx context.Context, d state.Dir, timeout time.Duration) (int, error) {
	pid, err := state.LockHolder(d.Lock())
	if err != nil || pid == 0 {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return pid, fmt.Errorf("signal gateway pid %d: %w", pid, err)
	}
	if err := waitFor(ctx, timeout, func() bool {
		p, err := state.LockHolder(d.Lock())
		return err == nil && p == 0
	}); err != nil {
		return pid, fmt.Errorf("gateway pid %d did not stop within %s: %w", pid, timeout, err)
	}
	return pid, nil
}

func newGatewayRestartCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "restart",
		Short: "Restart the running gateway in place",
		Long: `Restart the running gateway: it drains, then replaces itself with a fresh
process (same PID, so a service manager or terminal keeps watching it) that
reads the config again. Use it after changing gateway.bind or gateway.port.`,
		Example: "  gatehouse gateway restart",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			before, err := e.probeGateway(cmd.Context())
			if err != nil {
				return err
			}
			pid, err := e.signalGateway(cmd.Context(), syscall.SIGUSR1)
			if err != nil {
				return err
			}
			var last gatewayState
			err = waitFor(cmd.Context(), 20*time.Second, func() bool {
				gs, err := e.probeGateway(cmd.Context())
				if err != nil {
					return false
				}
				last = gs
				return gs.Healthy && gs.Status["startedAt"] != before.Status["startedAt"]
			})
			if err != nil {
				if last.Error != "" {
					return fmt.Errorf("gateway pid %d did not come back within 20s: %s (see gatehouse logs)", pid, last.Error)
				}
				return fmt.Errorf("gateway pid %d did not come back within 20s: see gatehouse logs", pid)
			}
			if e.json {
				return e.printJSON(map[string]any{"restarted": true, "pid": pid})
			}
			e.printf("restarted gateway (pid %d)\n", pid)
			return nil
		},
	}
}

// waitFor polls cond until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
