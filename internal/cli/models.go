package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/llm/providers"
	"gatehouse/internal/state"
)

func newModelsCmd(e *env) *cobra.Command {
	var statusPlain bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Configure LLM providers and see their state",
		Long: `Configure LLM providers (API keys into the encrypted secret store) and see
which are configured, where each key comes from and whether the provider
answers. --status-plain is the seed guides' spelling of "models status --plain".`,
		Example: `  printf '%s' "$ANTHROPIC_API_KEY" | gatehouse models auth add --provider anthropic
  gatehouse config set agents.defaults.model.primary anthropic/claude-sonnet-4-5
  gatehouse models status`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if statusPlain {
				return e.modelsStatus(cmd.Context(), true, true)
			}
			return cmd.Help()
		},
	}
	cmd.Flags().BoolVar(&statusPlain, "status-plain", false, "same as models status --plain")

	var plain, noProbe bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each provider: API, base URL, key source, reachable or not",
		Example: `  gatehouse models status
  gatehouse models status --plain
  gatehouse models status --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.modelsStatus(cmd.Context(), plain, !noProbe)
		},
	}
	status.Flags().BoolVar(&plain, "plain", false, "one provider per line, no decoration")
	status.Flags().BoolVar(&noProbe, "no-probe", false, "do not contact the providers")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List the models the agent uses: primary and fallbacks",
		Example: "  gatehouse models list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			m := f.Config().Agents.Defaults.Model
			type row struct {
				Ref        string `json:"ref"`
				Role       string `json:"role"`
				PriceKnown bool   `json:"priceKnown"`
			}
			rows := []row{}
			if m.Primary != "" {
				rows = append(rows, row{Ref: m.Primary, Role: "primary"})
			}
			for _, fb := range m.Fallbacks {
				rows = append(rows, row{Ref: fb, Role: "fallback"})
			}
			for i := range rows {
				if ref, err := llm.ParseRef(rows[i].Ref); err == nil {
					_, rows[i].PriceKnown = llm.PriceOf(f.Config().Models.Pricing, ref)
				}
			}
			if e.json {
				return e.printJSON(map[string]any{"models": rows})
			}
			if len(rows) == 0 {
				e.printf("no model configured: gatehouse config set agents.defaults.model.primary PROVIDER/MODEL\n")
				return nil
			}
			for _, r := range rows {
				e.printf("%-9s %s\n", r.Role, r.Ref)
			}
			return nil
		},
	}

	auth := &cobra.Command{
		Use:   "auth",
		Short: "Store provider credentials",
		Example: `  printf '%s' "$OPENAI_API_KEY" | gatehouse models auth add --provider openai
  gatehouse models auth login --provider anthropic`,
	}
	var provider string
	var setDefault string
	add := &cobra.Command{
		Use:   "add",
		Short: "Store a provider's API key (read from stdin) in the secret store",
		Long: `Read an API key from standard input (or a prompt on a terminal), keep it in
the encrypted secret store as PROVIDER.apiKey and point
models.providers.PROVIDER.apiKey at it. The key never appears in the command
line, the config file or a log.`,
		Example: `  printf '%s' "$ANTHROPIC_API_KEY" | gatehouse models auth add --provider anthropic
  gatehouse models auth add --provider openai --set-default openai/gpt-4o`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if provider == "" && isTerminal(e.stdin) {
				// The seed runs "models auth add" with no flags and answers
				// its questions.
				fmt.Fprint(e.stderr, "Provider (openai, anthropic, gemini, openrouter, …): ")
				p, err := readLine(bufio.NewReader(e.stdin))
				if err != nil {
					return err
				}
				provider = p
			}
			if provider == "" {
				return usageErrorf("--provider is required (openai, anthropic, gemini, openrouter, …)")
			}
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := d.Ensure(); err != nil {
				return err
			}
			key, err := e.readSecretValue("API key for " + provider + ": ")
			if err != nil {
				return err
			}
			e.redactor.Add(key)
			name := provider + ".apiKey"
			path := "models.providers." + provider + ".apiKey"
			ref, _ := json.Marshal(map[string]string{"secret": name})
			if err := f.Set(path, string(ref)); err != nil {
				return err
			}
			if setDefault != "" {
				if err := f.Set("agents.defaults.model.primary", setDefault); err != nil {
					return err
				}
			}
			store, err := e.openSecrets(d)
			if err != nil {
				return err
			}
			if err := store.Set(name, key); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"provider": provider, "secret": name, "ok": true})
			}
			e.printf("stored the %s API key in the secret store (%s)\n", provider, name)
			e.hintReload(d)
			return nil
		},
	}
	add.Flags().StringVar(&provider, "provider", "", "provider name (openai, anthropic, gemini, or one under models.providers)")
	add.Flags().StringVar(&setDefault, "set-default", "", "also make this provider/model the primary model")

	var loginProvider string
	var loginDefault bool
	login := &cobra.Command{
		Use:   "login",
		Short: "Sign in to a provider where it offers a login flow",
		Long: `OpenAI, Anthropic and Gemini issue API keys for programmatic use; none of
them offers a login flow that a self-hosted gateway may use on your behalf.
This command says so and shows the API key way. Local servers (Ollama, LM
Studio, vLLM, llama.cpp) need no credentials at all.`,
		Example: "  gatehouse models auth login --provider anthropic",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if loginProvider == "" {
				return usageErrorf("--provider is required")
			}
			msg := fmt.Sprintf("%s has no login flow Gatehouse can use: create an API key in the provider's console, then run\n  printf '%%s' \"$KEY\" | gatehouse models auth add --provider %s", loginProvider, loginProvider)
			if loginDefault {
				msg += " --set-default " + loginProvider + "/MODEL"
			}
			switch loginProvider {
			case "ollama", "lmstudio", "vllm", "llamacpp":
				msg = loginProvider + " runs locally and needs no credentials: gatehouse config set agents.defaults.model.primary " + loginProvider + "/MODEL"
			}
			return &codeError{code: exitError, err: fmt.Errorf("%s", msg)}
		},
	}
	login.Flags().StringVar(&loginProvider, "provider", "", "provider name")
	login.Flags().BoolVar(&loginDefault, "set-default", false, "make the provider the default (with auth add)")

	auth.AddCommand(add, login)
	cmd.AddCommand(status, list, auth)
	return cmd
}

// modelStatus is one row of `models status`.
type modelStatus struct {
	providers.Status
	Reachable *bool  `json:"reachable,omitempty"`
	Probe     string `json:"probe,omitempty"`
}

// modelsReport is what `models status --json` prints.
type modelsReport struct {
	Primary   string        `json:"primary"`
	Fallbacks []string      `json:"fallbacks"`
	Providers []modelStatus `json:"providers"`
}

func (e *env) modelsStatus(ctx context.Context, plain, probe bool) error {
	d, f, err := e.loadConfig()
	if err != nil {
		return err
	}
	cfg := f.Config()
	lookup := e.secretLookup(d)
	rep := modelsReport{Primary: cfg.Agents.Defaults.Model.Primary, Fallbacks: cfg.Agents.Defaults.Model.Fallbacks}
	if rep.Fallbacks == nil {
		rep.Fallbacks = []string{}
	}
	for _, st := range providers.Describe(cfg, lookup, e.lookupEnv) {
		ms := modelStatus{Status: st}
		if probe && st.Configured {
			ok, why := e.probeProvider(ctx, d, cfg, st)
			ms.Reachable, ms.Probe = &ok, why
		}
		rep.Providers = append(rep.Providers, ms)
	}
	if rep.Providers == nil {
		rep.Providers = []modelStatus{}
	}
	if e.json {
		return e.printJSON(rep)
	}
	if plain {
		for _, p := range rep.Providers {
			e.printf("%s\t%s\t%s\tkey=%s\t%s\n", p.Provider, p.API, p.BaseURL, p.KeySource, plainState(p))
		}
		return nil
	}
	primary := rep.Primary
	if primary == "" {
		primary = "(not set: gatehouse config set agents.defaults.model.primary PROVIDER/MODEL)"
	}
	e.printf("primary:   %s\n", primary)
	if len(rep.Fallbacks) > 0 {
		e.printf("fallbacks: %s\n", strings.Join(rep.Fallbacks, ", "))
	}
	if len(rep.Providers) == 0 {
		e.printf("providers: none configured\n")
		return nil
	}
	e.printf("providers:\n")
	for _, p := range rep.Providers {
		e.printf("  %-12s %-18s %s\n", p.Provider, p.API, p.BaseURL)
		e.printf("  %-12s key: %s; %s\n", "", p.KeySource, plainState(p))
	}
	return nil
}

func plainState(p modelStatus) string {
	switch {
	case p.Error != "":
		return "error: " + p.Error
	case p.Reachable == nil:
		return "configured"
	case *p.Reachable:
		return "reachable"
	default:
		return "unreachable: " + p.Probe
	}
}

// secretLookup reads named secrets from the store, opening it on first use.
func (e *env) secretLookup(d state.Dir) config.SecretLookup {
	return func(name string) (string, error) {
		s, err := e.openSecrets(d)
		if err != nil {
			return "", err
		}
		return s.Get(name)
	}
}

// probeProvider asks a provider's model list endpoint whether it answers
// and accepts the key. The key travels only in the provider's auth header.
func (e *env) probeProvider(ctx context.Context, d state.Dir, cfg *config.Config, st providers.Status) (bool, string) {
	key, err := providers.Key(cfg, st.Provider, e.secretLookup(d), e.lookupEnv)
	if err != nil {
		return false, e.redactor.Redact(err.Error())
	}
	e.redactor.Add(key)
	url := strings.TrimSuffix(st.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return false, err.Error()
	}
	switch st.API {
	case "anthropic":
		url += "/v1/models"
		req.Header.Set("x-api-key", key)
		req.Header.Set("anthropic-version", "2023-06-01")
	case "gemini":
		url += "/v1beta/models"
		req.Header.Set("x-goog-api-key", key)
	default:
		url += "/models"
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
	}
	u, err := req.URL.Parse(url)
	if err != nil {
		return false, "bad base URL"
	}
	req.URL = u
	req.Host = u.Host
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return false, "no answer from " + u.Host
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return true, ""
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Sprintf("the key was refused (HTTP %d): store a new one with gatehouse models auth add --provider %s", resp.StatusCode, st.Provider)
	default:
		return false, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
}
