package webtool

import (
	"fmt"
	"net/url"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/egress"
	"gatehouse/internal/tool"
)

// FromConfig builds web_fetch and web_search from tools.web. base carries
// what the config does not say (Resolver, Dial, Logger, UserAgent); the
// config sets the rest:
//
//   - web_fetch's client allows tools.web.fetch.allowPrivate and uses its
//     maxBytes, timeoutSeconds and maxRedirects;
//   - web_search's client allows no private network but the host of
//     tools.web.search.baseUrl when one is set (a SearXNG on the LAN),
//     follows no redirects (so the key cannot follow one), and uses
//     web_fetch's size and time limits.
//
// search is nil when no provider is configured. apiKey is the resolved
// tools.web.search.apiKey.
func FromConfig(cfg config.ToolsWeb, apiKey string, base egress.Options) (fetch, search tool.Tool, err error) {
	allow, err := egress.ParsePrefixes(cfg.Fetch.AllowPrivate)
	if err != nil {
		return nil, nil, fmt.Errorf("tools.web.fetch.allowPrivate: %w", err)
	}
	fo := base
	fo.AllowPrivate = allow
	fo.AllowHosts = nil
	fo.MaxRedirects = cfg.Fetch.MaxRedirects
	if cfg.Fetch.MaxBytes > 0 {
		fo.MaxBytes = int64(cfg.Fetch.MaxBytes)
	}
	if cfg.Fetch.TimeoutSeconds > 0 {
		fo.Timeout = time.Duration(cfg.Fetch.TimeoutSeconds) * time.Second
	}
	f := NewFetch(egress.New(fo))
	if cfg.Search.Provider == "" {
		return f, nil, nil
	}

	so := fo
	so.AllowPrivate = nil
	so.AllowHosts = nil
	so.MaxRedirects = 0
	if cfg.Search.BaseURL != "" {
		if u, err := url.Parse(cfg.Search.BaseURL); err == nil && u.Hostname() != "" {
			so.AllowHosts = []string{u.Hostname()}
		}
	}
	s, err := NewSearch(cfg.Search, apiKey, egress.New(so))
	if err != nil {
		return nil, nil, err
	}
	return f, s, nil
}
