package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
)

// knownChannels are the chat platforms this build has adapters for, or will.
var knownChannels = []string{"discord", "slack", "telegram", "webchat"}

func checkChannelName(name string) error {
	if !slices.Contains(knownChannels, name) {
		return usageErrorf("unknown channel %q: use one of %s", name, strings.Join(knownChannels, ", "))
	}
	return nil
}

func newChannelsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channels",
		Short: "Add, list and remove chat channels",
		Long: `Chat channels connect the agent to Telegram, Discord, Slack or the web chat.
A channel's bot token goes into the encrypted secret store; who may talk to
the bot is set with channels.NAME.dmPolicy (pairing by default),
channels.NAME.allowFrom and channels.NAME.groupPolicy (disabled by default).`,
		Example: `  gatehouse channels add --channel telegram --token "$TELEGRAM_BOT_TOKEN"
  gatehouse channels list
  gatehouse channels status --json`,
	}
	var name, token, appToken string
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a channel and its bot token",
		Long: `Register a chat channel: the token goes into the encrypted secret store (as
NAME.token), the config refers to it, and the channel's plugin is enabled.
--token - reads the token from standard input instead of the command line.
The secure defaults stay: dmPolicy pairing, groupPolicy disabled,
configWrites false. Restart the gateway to connect.`,
		Example: `  gatehouse channels add --channel telegram --token "$TELEGRAM_BOT_TOKEN"
  printf '%s' "$TOKEN" | gatehouse channels add --channel discord --token -
  gatehouse channels add --channel slack --token "$SLACK_BOT_TOKEN" --app-token "$SLACK_APP_TOKEN"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChannelName(name); err != nil {
				return err
			}
			if name == "webchat" {
				return usageErrorf("webchat needs no token: it runs on the gateway port")
			}
			if token == "" {
				return usageErrorf("--token is required (or --token - to read it from standard input)")
			}
			if name == "slack" && appToken == "" {
				return usageErrorf("slack needs --app-token too (an xapp- token with connections:write, for Socket Mode)")
			}
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := d.Ensure(); err != nil {
				return err
			}
			if token == "-" {
				if token, err = e.readSecretValue(name + " bot token: "); err != nil {
					return err
				}
			}
			e.redactor.Add(token, appToken)
			store, err := e.openSecrets(d)
			if err != nil {
				return err
			}
			set := func(path, secretName, value string) error {
				if err := store.Set(secretName, value); err != nil {
					return err
				}
				ref, _ := json.Marshal(map[string]string{"secret": secretName})
				return f.Set(path, string(ref))
			}
			if err := set("channels."+name+".token", name+".token", token); err != nil {
				return err
			}
			if appToken != "" {
				if err := set("channels."+name+".appToken", name+".appToken", appToken); err != nil {
					return err
				}
			}
			if err := f.Set("plugins.entries."+name+".enabled", "true"); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"channel": name, "ok": true})
			}
			e.printf("added channel %s (token in the secret store; dmPolicy %s, groupPolicy %s)\n", name,
				dmPolicyOf(f.Config(), name), groupPolicyOf(f.Config(), name))
			e.hintReload(d)
			return nil
		},
	}
	add.Flags().StringVar(&name, "channel", "", "channel name: "+strings.Join(knownChannels, ", "))
	add.Flags().StringVar(&token, "token", "", "bot token, or - to read it from standard input")
	add.Flags().StringVar(&appToken, "app-token", "", "Slack app-level token (xapp-…) for Socket Mode")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List configured channels and their access policies",
		Example: "  gatehouse channels list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			rows := channelRows(f.Config())
			if e.json {
				return e.printJSON(map[string]any{"channels": rows})
			}
			if len(rows) == 0 {
				e.printf("no channels: gatehouse channels add --channel telegram --token TOKEN\n")
				return nil
			}
			for _, r := range rows {
				e.printf("%-9s enabled=%-5v dmPolicy=%-9s groupPolicy=%-9s allowFrom=%d\n", r.Name, r.Enabled, r.DMPolicy, r.GroupPolicy, r.AllowFrom)
			}
			return nil
		},
	}

	status := &cobra.Command{
		Use:     "status",
		Short:   "Show each channel's connection state from the running gateway",
		Example: "  gatehouse channels status --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			rows := channelRows(f.Config())
			var st struct {
				Channels []map[string]any `json:"channels"`
			}
			callErr := e.call(cmd.Context(), "channels.status", nil, &st)
			live := map[string]map[string]any{}
			for _, c := range st.Channels {
				if n, _ := c["name"].(string); n != "" {
					live[n] = c
				}
			}
			out := []map[string]any{}
			for _, r := range rows {
				m := map[string]any{"name": r.Name, "enabled": r.Enabled, "dmPolicy": r.DMPolicy, "groupPolicy": r.GroupPolicy}
				if l, ok := live[r.Name]; ok {
					for k, v := range l {
						m[k] = v
					}
				} else if callErr != nil {
					m["connected"] = false
					m["lastError"] = "gateway not reachable: " + e.redactor.Redact(callErr.Error())
				}
				out = append(out, m)
			}
			if e.json {
				return e.printJSON(map[string]any{"channels": out})
			}
			if len(out) == 0 {
				e.printf("no channels configured\n")
				return nil
			}
			for _, m := range out {
				state := "disconnected"
				if c, _ := m["connected"].(bool); c {
					state = "connected"
				}
				e.printf("%-9s %s", m["name"], state)
				if le, _ := m["lastError"].(string); le != "" {
					e.printf(" (%s)", le)
				}
				e.printf("\n")
			}
			return nil
		},
	}

	var rmName string
	remove := &cobra.Command{
		Use:     "remove",
		Short:   "Remove a channel and its stored tokens",
		Example: "  gatehouse channels remove --channel telegram",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChannelName(rmName); err != nil {
				return err
			}
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := f.Unset("channels." + rmName); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			if store, err := e.openSecrets(d); err == nil {
				for _, n := range []string{rmName + ".token", rmName + ".appToken"} {
					store.Delete(n)
				}
			}
			if e.json {
				return e.printJSON(map[string]any{"removed": rmName})
			}
			e.printf("removed channel %s\n", rmName)
			e.hintReload(d)
			return nil
		},
	}
	remove.Flags().StringVar(&rmName, "channel", "", "channel name")
	var loginName string
	login := &cobra.Command{
		Use:   "login",
		Short: "Show how to get a channel's credentials",
		Long: `Telegram, Discord and Slack bots authenticate with tokens that their
platforms issue; there is no login session to open. This prints, per
platform, where to get them and the exact commands that follow.`,
		Example: "  gatehouse channels login --channel discord",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChannelName(loginName); err != nil {
				return err
			}
			steps := channelLoginSteps[loginName]
			if e.json {
				return e.printJSON(map[string]any{"channel": loginName, "steps": steps})
			}
			for i, st := range steps {
				e.printf("%d. %s\n", i+1, st)
			}
			return nil
		},
	}
	login.Flags().StringVar(&loginName, "channel", "", "channel name")
	cmd.AddCommand(add, list, status, remove, login)
	return cmd
}

// channelLoginSteps is what each platform needs before channels add.
var channelLoginSteps = map[string][]string{
	"telegram": {
		"In Telegram, talk to @BotFather: /newbot, then copy the bot token.",
		"Also in @BotFather: /setjoingroups → Disable, and /setprivacy → Enable.",
		`printf '%s' "$TOKEN" | gatehouse channels add --channel telegram --token -`,
		"gatehouse gateway restart, then write to the bot and approve the code: gatehouse pairing approve telegram CODE",
	},
	"discord": {
		"Discord Developer Portal → New Application → Bot → Reset Token, and copy it.",
		"Bot → Privileged Gateway Intents: enable Message Content Intent.",
		"OAuth2 → URL Generator: scopes bot; permissions Send Messages, Read Message History, View Channels; open the URL to invite the bot.",
		`printf '%s' "$TOKEN" | gatehouse channels add --channel discord --token -`,
		"gatehouse gateway restart, then DM the bot and approve the code: gatehouse pairing approve discord CODE",
	},
	"slack": {
		"api.slack.com/apps → Create New App → Socket Mode: enable it and create an app-level token (xapp-…) with connections:write.",
		"OAuth & Permissions → bot scopes chat:write, im:history, channels:history, app_mentions:read; install to the workspace and copy the bot token (xoxb-…).",
		"Event Subscriptions: enable, subscribe to message.im, message.channels and app_mention.",
		"gatehouse channels add --channel slack --token xoxb-… --app-token xapp-…",
		"gatehouse gateway restart, then DM the bot and approve the code: gatehouse pairing approve slack CODE",
	},
	"webchat": {
		"The web chat runs on the gateway port and needs no credentials.",
	},
}

// channelRow is one channel in `channels list`.
type channelRow struct {
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	DMPolicy    string `json:"dmPolicy"`
	GroupPolicy string `json:"groupPolicy"`
	AllowFrom   int    `json:"allowFrom"`
}

func channelOf(cfg *config.Config, name string) *config.Channel {
	switch name {
	case "telegram":
		return cfg.Channels.Telegram
	case "discord":
		return cfg.Channels.Discord
	case "slack":
		return cfg.Channels.Slack
	case "webchat":
		return cfg.Channels.Webchat
	}
	return nil
}

func dmPolicyOf(cfg *config.Config, name string) string {
	ch := channelOf(cfg, name)
	if ch == nil {
		return "pairing"
	}
	if ch.DM != nil && ch.DM.Policy != "" {
		return ch.DM.Policy
	}
	if ch.DMPolicy != "" {
		return ch.DMPolicy
	}
	return "pairing"
}

func groupPolicyOf(cfg *config.Config, name string) string {
	if ch := channelOf(cfg, name); ch != nil && ch.GroupPolicy != "" {
		return ch.GroupPolicy
	}
	return "disabled"
}

func channelRows(cfg *config.Config) []channelRow {
	rows := []channelRow{}
	for _, n := range knownChannels {
		ch := channelOf(cfg, n)
		if ch == nil {
			continue
		}
		allow := len(ch.AllowFrom)
		if ch.DM != nil {
			allow += len(ch.DM.AllowFrom)
		}
		rows = append(rows, channelRow{
			Name: n, Enabled: ch.Enabled == nil || *ch.Enabled,
			DMPolicy: dmPolicyOf(cfg, n), GroupPolicy: groupPolicyOf(cfg, n), AllowFrom: allow,
		})
	}
	return rows
}

func newPluginsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "Enable or disable bundled plugins (the chat channels)",
		Long: `Gatehouse's chat channels are built in; "plugins enable NAME" is the seed
guides' step that switches one on (channels add does it too), and
"plugins disable NAME" stops it without removing its configuration.`,
		Example: `  gatehouse plugins enable telegram
  gatehouse plugins list`,
	}
	toggle := func(use string, on bool) *cobra.Command {
		verb := "Enable"
		if !on {
			verb = "Disable"
		}
		return &cobra.Command{
			Use:     use + " NAME",
			Short:   verb + " a bundled plugin",
			Example: "  gatehouse plugins " + use + " telegram",
			Args:    exactArgs(1, "the plugin NAME"),
			RunE: func(cmd *cobra.Command, args []string) error {
				name := args[0]
				if strings.HasSuffix(name, "-auth") {
					// The seed's Phase 3.1 enables an LLM auth plugin
					// (anthropic-auth, openai-auth, google-gemini-cli-auth):
					// providers are built in here, so there is nothing to do.
					if e.json {
						return e.printJSON(map[string]any{"plugin": name, "builtIn": true})
					}
					e.printf("%s: LLM providers are built into gatehouse; nothing to %s. Next: gatehouse models auth add --provider PROVIDER\n", name, use)
					return nil
				}
				if !slices.Contains(knownChannels, name) {
					return fmt.Errorf("unknown plugin %q: the bundled plugins are %s (LLM providers need no plugin: gatehouse models auth add)", name, strings.Join(knownChannels, ", "))
				}
				d, f, err := e.loadConfig()
				if err != nil {
					return err
				}
				if err := f.Set("plugins.entries."+name+".enabled", fmt.Sprint(on)); err != nil {
					return err
				}
				if err := f.Save(); err != nil {
					return err
				}
				if e.json {
					return e.printJSON(map[string]any{"plugin": name, "enabled": on})
				}
				e.printf("%sd plugin %s\n", strings.ToLower(verb), name)
				e.hintReload(d)
				return nil
			},
		}
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the bundled plugins and whether each is enabled",
		Example: "  gatehouse plugins list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			type row struct {
				Name    string `json:"name"`
				Enabled bool   `json:"enabled"`
			}
			rows := []row{}
			for _, n := range knownChannels {
				rows = append(rows, row{Name: n, Enabled: f.Config().Plugins.Entries[n].Enabled})
			}
			if e.json {
				return e.printJSON(map[string]any{"plugins": rows})
			}
			for _, r := range rows {
				state := "disabled"
				if r.Enabled {
					state = "enabled"
				}
				e.printf("%-9s %s\n", r.Name, state)
			}
			return nil
		},
	}
	cmd.AddCommand(toggle("enable", true), toggle("disable", false), list)
	return cmd
}
