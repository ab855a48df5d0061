package llm

import (
	"fmt"
	"net"
	"net/url"
)

// CheckBaseURL parses a provider's base URL and refuses one that would send
// an API key unencrypted: with a key, plain http is accepted only for a
// loopback host (a local server or a test peer). User info in the URL is
// refused too, so no credential rides in it.
func CheckBaseURL(s string, hasKey bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q needs scheme://host and no user info", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if hasKey && !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("%q would send the API key unencrypted: use https (plain http is for loopback only)", u.Redacted())
		}
	default:
		return nil, fmt.Errorf("%q is not an http or https URL", u.Redacted())
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
