// Package providers builds the configured LLM providers (models.providers
// and the providers that agents.defaults.model names) and reports how each
// is set up, for `gatehouse models status`.
//
// Each vendor SDK is linked through a shim file behind a build tag, as
// Tailscale's feature/condregister does: building with
// -tags gatehouse_omit_openai, gatehouse_omit_anthropic or
// gatehouse_omit_gemini leaves that SDK out of the binary, and a provider
// that needs it then fails with an error naming the tag.
//
// The gateway and the CLI import it; nothing below them does.
package providers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
)

// Wire protocols, as in models.providers.<name>.api.
const (
	APIOpenAI           = "openai"
	APIAnthropic        = "anthropic"
	APIGemini           = "gemini"
	APIOpenAICompatible = "openai-compatible"
)

// Key sources reported by Describe.
const (
	KeyFromSecretStore = "secret store"
	KeyFromPlaintext   = "config (plaintext)"
	KeyNone            = "none"
	keyFromEnvPrefix   = "env "
)

// defaultBaseURLs are the base URLs of well-known provider names.
var defaultBaseURLs = map[string]string{
	"openai":     "https://api.openai.com/v1",
	"anthropic":  "https://api.anthropic.com",
	"gemini":     "https://generativelanguage.googleapis.com/",
	"google":     "https://generativelanguage.googleapis.com/",
	"ollama":     "http://127.0.0.1:11434/v1",
	"lmstudio":   "http://127.0.0.1:1234/v1",
	"vllm":       "http://127.0.0.1:8000/v1",
	"llamacpp":   "http://127.0.0.1:8080/v1",
	"openrouter": "https://openrouter.ai/api/v1",
}

// Status is how one provider is set up. It never holds the key.
type Status struct {
	Provider string `json:"provider"`
	API      string `json:"api"`
	BaseURL  string `json:"baseUrl,omitempty"`
	// KeySource is where the key comes from: "secret store", "env VAR",
	// "config (plaintext)" or "none".
	KeySource string `json:"keySource"`
	// Configured is true when the provider can be built: it has a base
	// URL, a key if it needs one, and this binary includes its SDK.
	Configured bool   `json:"configured"`
	Error      string `json:"error,omitempty"`
}

// settings is a provider's resolved configuration.
type settings struct {
	name      string
	api       string
	baseURL   string
	key       string
	keySource string
}

// Names lists the providers cfg uses, sorted: those in models.providers and
// those agents.defaults.model.primary and fallbacks refer to.
func Names(cfg *config.Config) []string {
	var names []string
	for n := range cfg.Models.Providers {
		names = append(names, n)
	}
	m := cfg.Agents.Defaults.Model
	for _, s := range append([]string{m.Primary}, m.Fallbacks...) {
		if ref, err := llm.ParseRef(s); err == nil {
			names = append(names, ref.Provider)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// FromConfig builds every provider Names lists. lookup reads the secret
// store, lookupEnv the environment (os.LookupEnv in production); hc sends
// all requests (nil: each SDK wrapper's own client, which takes no proxy
// from the environment). It does no I/O beyond lookup and lookupEnv. When
// any provider cannot be built it returns no map and an error naming each
// one and its fix.
func FromConfig(cfg *config.Config, lookup config.SecretLookup, lookupEnv func(string) (string, bool), hc *http.Client) (map[string]llm.Provider, error) {
	out := map[string]llm.Provider{}
	var errs []error
	for _, name := range Names(cfg) {
		s, err := resolve(name, cfg.Models.Providers[name], lookup, lookupEnv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := build(s, hc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Describe reports how each provider Names lists is set up, without
// building it and without ever returning a key.
func Describe(cfg *config.Config, lookup config.SecretLookup, lookupEnv func(string) (string, bool)) []Status {
	var out []Status
	for _, name := range Names(cfg) {
		pc := cfg.Models.Providers[name]
		s, err := resolve(name, pc, lookup, lookupEnv)
		st := Status{Provider: name, API: s.api, BaseURL: s.baseURL, KeySource: s.keySource}
		if err == nil && !compiledIn(s.api) {
			err = omittedError(name, s.api)
		}
		if err != nil {
			st.Error = err.Error()
		} else {
			st.Configured = true
		}
		out = append(out, st)
	}
	return out
}

// Key returns the API key the named provider would use, by the same
// precedence as FromConfig (config, then environment), or "" for one that
// needs none. It is for probes the owner runs (gatehouse models status
// --probe); the caller must keep it out of output.
func Key(cfg *config.Config, name string, lookup config.SecretLookup, lookupEnv func(string) (string, bool)) (string, error) {
	s, err := resolve(name, cfg.Models.Providers[name], lookup, lookupEnv)
	if err != nil {
		return "", err
	}
	return s.key, nil
}

func build(s settings, hc *http.Client) (llm.Provider, error) {
	var (
		p   llm.Provider
		err error
	)
	switch s.api {
	case APIOpenAI, APIOpenAICompatible:
		p, err = newOpenAI(s, hc)
	case APIAnthropic:
		p, err = newAnthropic(s, hc)
	case APIGemini:
		p, err = newGemini(s, hc)
	default:
		return nil, fmt.Errorf("models.providers.%s.api %q is unknown", s.name, s.api)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

func compiledIn(api string) bool {
	switch api {
	case APIOpenAI, APIOpenAICompatible:
		return hasOpenAI
	case APIAnthropic:
		return hasAnthropic
	case APIGemini:
		return hasGemini
	}
	return true // build reports the unknown api
}

// omittedError says that this binary was built without the SDK api needs.
func omittedError(name, api string) error {
	if api == APIGemini {
		return geminiOptInError(name)
	}
	tag := "gatehouse_omit_" + api
	if api == APIOpenAICompatible {
		tag = "gatehouse_omit_openai"
	}
	return fmt.Errorf("provider %q needs the %s API, but this gatehouse was built without it: rebuild without -tags %s", name, api, tag)
}

// defaultAPI is the wire protocol a provider name implies.
func defaultAPI(name string) string {
	switch name {
	case "openai":
		return APIOpenAI
	case "anthropic":
		return APIAnthropic
	case "gemini", "google":
		return APIGemini
	}
	return APIOpenAICompatible
}

// keyEnv lists the environment variables a provider's key may come from
// when the config has none, in order.
func keyEnv(name, api string) []string {
	switch api {
	case APIOpenAI:
		return []string{"OPENAI_API_KEY"}
	case APIAnthropic:
		return []string{"ANTHROPIC_API_KEY"}
	case APIGemini:
		return []string{"GEMINI_API_KEY", "GOOGLE_API_KEY"}
	}
	switch name {
	case "openrouter":
		return []string{"OPENROUTER_API_KEY"}
	case "gemini", "google":
		// Gemini through its OpenAI-compatible endpoint.
		return []string{"GEMINI_API_KEY", "GOOGLE_API_KEY"}
	}
	return nil
}

// baseURLEnv is the environment variable that may set a provider's base
// URL, or "".
func baseURLEnv(api string) string {
	switch api {
	case APIOpenAI:
		return "OPENAI_BASE_URL"
	case APIAnthropic:
		return "ANTHROPIC_BASE_URL"
	case APIGemini:
		return "GEMINI_BASE_URL"
	}
	return ""
}

// needsKey reports whether a provider cannot work without a key: the
// vendors' APIs and OpenRouter do; local servers and other self-hosted
// OpenAI-compatible servers usually do not, and answer 401 if they do.
func needsKey(name, api string) bool {
	return api != APIOpenAICompatible || name == "openrouter"
}

// resolve works out a provider's API, base URL and key. It returns what it
// found so far along with any error, for Describe.
func resolve(name string, pc config.Provider, lookup config.SecretLookup, lookupEnv func(string) (string, bool)) (settings, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	env := func(k string) string {
		v, ok := lookupEnv(k)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
	s := settings{name: name, api: pc.API, keySource: KeyNone}
	switch s.api {
	case "":
		s.api = defaultAPI(name)
	case APIOpenAI, APIAnthropic, APIGemini, APIOpenAICompatible:
	default:
		return s, fmt.Errorf("models.providers.%s.api %q is not one of openai, anthropic, gemini, openai-compatible", name, s.api)
	}

	// Base URL: config, then the vendor's environment variable, then the
	// name's default, then the API's.
	switch {
	case pc.BaseURL != "":
		s.baseURL = pc.BaseURL
	case baseURLEnv(s.api) != "" && env(baseURLEnv(s.api)) != "":
		s.baseURL = env(baseURLEnv(s.api))
	case defaultBaseURLs[name] != "":
		s.baseURL = defaultBaseURLs[name]
	case s.api != APIOpenAICompatible:
		s.baseURL = defaultBaseURLs[s.api]
	default:
		return s, fmt.Errorf("provider %q has no base URL: run gatehouse config set models.providers.%s.baseUrl http://HOST:PORT/v1", name, name)
	}

	// Key: config, then the environment.
	if !pc.APIKey.IsZero() {
		switch {
		case pc.APIKey.Ref != "":
			s.keySource = KeyFromSecretStore
		case pc.APIKey.Env != "":
			s.keySource = keyFromEnvPrefix + pc.APIKey.Env
		default:
			s.keySource = KeyFromPlaintext
		}
		key, err := pc.APIKey.Resolve(lookup, lookupEnv)
		if err != nil {
			return s, fmt.Errorf("models.providers.%s.apiKey: %w", name, err)
		}
		s.key = key
		return s, nil
	}
	for _, k := range keyEnv(name, s.api) {
		if v := env(k); v != "" {
			s.key, s.keySource = v, keyFromEnvPrefix+k
			return s, nil
		}
	}
	if needsKey(name, s.api) {
		return s, missingKeyError(name, keyEnv(name, s.api))
	}
	return s, nil
}

func missingKeyError(name string, envs []string) error {
	secret := name + ".apiKey"
	msg := fmt.Sprintf("provider %q has no API key: store one with "+
		`printf '%%s' "$KEY" | gatehouse secrets set %s && gatehouse config set models.providers.%s.apiKey '{"secret":"%s"}'`+
		", or run gatehouse models auth add --provider %s", name, secret, name, secret, name)
	if len(envs) > 0 {
		msg += ", or set " + strings.Join(envs, " or ")
	}
	return errors.New(msg)
}

// geminiOptInError says how to get Gemini in a build without the native
// provider (the default: it is opt-in for its size).
func geminiOptInError(name string) error {
	return fmt.Errorf("provider %q needs the native Gemini API, which this gatehouse was built without (it adds about 15 MB): "+
		"build with -tags gatehouse_gemini (make build TAGS=gatehouse_gemini), or use Gemini's OpenAI-compatible endpoint: "+
		"gatehouse config set models.providers.%s.api openai-compatible && "+
		"gatehouse config set models.providers.%s.baseUrl https://generativelanguage.googleapis.com/v1beta/openai/", name, name, name)
}
