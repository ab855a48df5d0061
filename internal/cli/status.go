package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
)

// statusReport is what `status --json` prints.
type statusReport struct {
	Version   string       `json:"version"`
	StateDir  string       `json:"stateDir"`
	Config    configState  `json:"config"`
	Gateway   gatewayState `json:"gateway"`
	Bind      string       `json:"bind"`
	Port      int          `json:"port"`
	AuthMode  string       `json:"authMode"`
	Model     string       `json:"model"`
	Channels  []string     `json:"channels"`
	Workspace string       `json:"workspace"`
}

type configState struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	Valid  bool   `json:"valid"`
	Error  string `json:"error,omitempty"`
}

// configuredChannels lists the channels present in the config.
func configuredChannels(cfg *config.Config) []string {
	out := []string{}
	for name, ch := range map[string]*config.Channel{
		"discord": cfg.Channels.Discord, "slack": cfg.Channels.Slack,
		"telegram": cfg.Channels.Telegram, "webchat": cfg.Channels.Webchat,
	} {
		if ch != nil && (ch.Enabled == nil || *ch.Enabled) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func newStatusCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the state of this Gatehouse: config, gateway, channels",
		Example: `  gatehouse status
  gatehouse status --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			rep := statusReport{Version: version, StateDir: d.Root, Config: configState{Path: d.Config()}, Channels: []string{}}
			f, err := config.Load(d.Config())
			if err != nil {
				rep.Config.Exists = true
				rep.Config.Error = err.Error()
			} else {
				rep.Config.Exists, rep.Config.Valid = f.Exists, true
				cfg := f.Config()
				rep.Bind, rep.Port, rep.AuthMode = cfg.Gateway.Bind, cfg.Gateway.Port, cfg.Gateway.Auth.Mode
				rep.Model = cfg.Agents.Defaults.Model.Primary
				rep.Channels = configuredChannels(cfg)
				rep.Workspace = e.workspaceDir(d, cfg)
				gs, err := e.probeGateway(cmd.Context())
				if err != nil {
					gs.Error = e.redactor.Redact(err.Error())
				}
				rep.Gateway = gs
			}
			if e.json {
				return e.printJSON(rep)
			}
			e.printf("Gatehouse %s\n", rep.Version)
			e.printf("state dir:  %s\n", rep.StateDir)
			switch {
			case !rep.Config.Exists:
				e.printf("config:     %s (missing: run gatehouse onboard)\n", rep.Config.Path)
			case !rep.Config.Valid:
				e.printf("config:     %s (invalid: %s)\n", rep.Config.Path, rep.Config.Error)
				return nil
			default:
				e.printf("config:     %s (valid)\n", rep.Config.Path)
			}
			e.printf("bind:       %s, port %d, auth %s\n", rep.Bind, rep.Port, rep.AuthMode)
			model := rep.Model
			if model == "" {
				model = "(not set: gatehouse config set agents.defaults.model.primary PROVIDER/MODEL)"
			}
			e.printf("model:      %s\n", model)
			ch := "none"
			if len(rep.Channels) > 0 {
				ch = fmt.Sprint(rep.Channels)
			}
			if states, ok := rep.Gateway.Status["channelStates"].([]any); ok && len(states) > 0 {
				var parts []string
				for _, st := range states {
					m, _ := st.(map[string]any)
					state := "disconnected"
					if c, _ := m["connected"].(bool); c {
						state = "connected"
					}
					if le, _ := m["lastError"].(string); le != "" && state != "connected" {
						state += " (" + le + ")"
					}
					parts = append(parts, fmt.Sprintf("%v %s", m["name"], state))
				}
				ch = strings.Join(parts, ", ")
			}
			e.printf("channels:   %s\n", ch)
			e.printf("workspace:  %s\n", rep.Workspace)
			e.renderGatewayState(rep.Gateway)
			return nil
		},
	}
}

// healthReport is what `health --json` prints.
type healthReport struct {
	URL     string         `json:"url"`
	Healthz bool           `json:"healthz"`
	RPC     map[string]any `json:"rpc,omitempty"`
	Error   string         `json:"error,omitempty"`
}

func newHealthCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "health",
		Short:   "Check that the gateway answers, without and with authentication",
		Example: "  gatehouse health --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, _, t, err := e.gatewayTarget()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			rep := healthReport{URL: t.httpURL}
			rep.Healthz, err = probeHealthz(ctx, t.httpURL)
			if err == nil {
				var h map[string]any
				if err = e.call(ctx, "health", nil, &h); err == nil {
					rep.RPC = h
				}
			}
			if err != nil {
				rep.Error = e.redactor.Redact(err.Error())
			}
			if e.json {
				if err := e.printJSON(rep); err != nil {
					return err
				}
			} else if rep.Error == "" {
				e.printf("ok: %s/healthz answers and the token is accepted\n", rep.URL)
			} else {
				e.printf("unhealthy: %s\n", rep.Error)
			}
			if rep.Error != "" {
				return &codeError{code: exitError}
			}
			return nil
		},
	}
}

// probeHealthz calls the unauthenticated health check.
func probeHealthz(ctx context.Context, base string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("no gateway is answering on %s: start it with gatehouse gateway run", base)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	var body struct {
		OK bool `json:"ok"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil || !body.OK {
		return false, fmt.Errorf("%s/healthz answered %s", base, resp.Status)
	}
	return true, nil
}
