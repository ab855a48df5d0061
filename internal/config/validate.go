package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Validate checks the rules that types and enums cannot express. It returns
// every problem found, each a *FieldError (joined when there are several).
// Parse calls it; call it again after changing a Config in code.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, problem, got string) {
		errs = append(errs, &FieldError{Path: path, Problem: problem, Got: got})
	}

	g := c.Gateway
	switch {
	case g.Bind == "custom" && g.CustomBindHost == "":
		add("gateway.customBindHost", "is required when gateway.bind is custom: run gatehouse config set gateway.customBindHost <IP address> first", "")
	case g.CustomBindHost != "":
		if _, err := netip.ParseAddr(g.CustomBindHost); err != nil {
			add("gateway.customBindHost", fmt.Sprintf("%q is not an IP address: use one such as 192.168.1.10 or fd7a:115c:a1e0::1", g.CustomBindHost), g.CustomBindHost)
		}
	}
	if g.Remote.URL != "" {
		u, err := url.Parse(g.Remote.URL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			add("gateway.remote.url", fmt.Sprintf("%q is not a ws:// or wss:// URL: use one such as wss://gateway.example.net:18789", g.Remote.URL), g.Remote.URL)
		}
	}

	m := c.Agents.Defaults.Model
	if m.Primary != "" && !isModelRef(m.Primary) {
		add("agents.defaults.model.primary", modelRefProblem(m.Primary), m.Primary)
	}
	for i, f := range m.Fallbacks {
		if !isModelRef(f) {
			add(fmt.Sprintf("agents.defaults.model.fallbacks[%d]", i), modelRefProblem(f), f)
		}
	}

	for _, list := range []struct {
		path  string
		items []string
	}{
		{"tools.allow", c.Tools.Allow},
		{"tools.deny", c.Tools.Deny},
	} {
		for i, s := range list.items {
			if strings.TrimSpace(s) == "" {
				add(fmt.Sprintf("%s[%d]", list.path, i), "a tool name must not be empty: remove the entry", s)
			}
		}
	}
	return joinErrors(errs)
}

// isModelRef reports whether s looks like provider/model.
func isModelRef(s string) bool {
	provider, model, ok := strings.Cut(s, "/")
	return ok && provider != "" && model != "" && !strings.ContainsAny(s, " \t\r\n")
}

func modelRefProblem(s string) string {
	return fmt.Sprintf("%q is not a model reference: write provider/model, e.g. anthropic/claude-sonnet-4-5", s)
}
