package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
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
	sb := c.Agents.Defaults.Sandbox
	for i, l := range sb.Native.AllowWithout {
		if !slices.Contains(WaivableLayers, l) {
			add(fmt.Sprintf("agents.defaults.sandbox.native.allowWithout[%d]", i),
				fmt.Sprintf("%q is not a layer the sandbox may run without: use one of %s", l, strings.Join(WaivableLayers, ", ")), l)
		}
	}
	if u := strings.TrimSpace(sb.Docker.User); u != "" {
		name, _, _ := strings.Cut(u, ":")
		if name == "0" || name == "root" {
			add("agents.defaults.sandbox.docker.user", "sandboxed commands never run as root: use a numeric uid:gid such as 65534:65534", u)
		}
	}
	for i, b := range sb.Docker.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 || !strings.HasPrefix(parts[0], "/") || !strings.HasPrefix(parts[1], "/") ||
			(len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw") {
			add(fmt.Sprintf("agents.defaults.sandbox.docker.binds[%d]", i), "write a bind as /host/path:/container/path or /host/path:/container/path:ro|rw", b)
		}
	}
	seen := map[string]bool{}
	for i, a := range c.Agents.List {
		if strings.TrimSpace(a.ID) == "" || seen[a.ID] {
			add(fmt.Sprintf("agents.list[%d].id", i), "every agent entry needs a unique id (the gateway's agent is main)", a.ID)
		}
		seen[a.ID] = true
	}
	return joinErrors(errs)
}

// WaivableLayers are the sandbox layers agents.defaults.sandbox.native.
// allowWithout may name. Namespaces, capabilities, no_new_privs and
// rlimits are never optional.
var WaivableLayers = []string{"landlock", "landlock-net", "seccomp", "cgroups", "cgroupns"}

// isModelRef reports whether s looks like provider/model.
func isModelRef(s string) bool {
	provider, model, ok := strings.Cut(s, "/")
	return ok && provider != "" && model != "" && !strings.ContainsAny(s, " \t\r\n")
}

func modelRefProblem(s string) string {
	return fmt.Sprintf("%q is not a model reference: write provider/model, e.g. anthropic/claude-sonnet-4-5", s)
}
