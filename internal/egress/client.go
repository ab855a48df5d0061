package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"time"
)

// Defaults for the zero values of [Options].
const (
	DefaultMaxBytes = 2 << 20
	DefaultTimeout  = 30 * time.Second
	// MaxHeaderBytes caps the response headers of every request.
	MaxHeaderBytes = 64 << 10
	// maxAddrs bounds how many resolved addresses are checked and tried.
	maxAddrs = 32
)

// Errors a request may wrap, to branch on with errors.Is.
var (
	// ErrRedirectLimit: the response redirected once more than
	// Options.MaxRedirects allows.
	ErrRedirectLimit = errors.New("too many redirects")
	// ErrRedirectLoop: a redirect led back to a URL already visited.
	ErrRedirectLoop = errors.New("redirect loop")
	// ErrTimeout: the request did not complete within Options.Timeout.
	ErrTimeout = errors.New("timed out")
)

// Options configures a [Client]. The zero value is a valid and strict
// configuration: public addresses only, bodies up to [DefaultMaxBytes],
// [DefaultTimeout], no redirects followed, the system resolver and dialer.
type Options struct {
	// Resolver looks up a host name's addresses. Every address it returns
	// is checked before any is dialed. Default: net.DefaultResolver.
	Resolver func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects to an address that has passed the check; addr is
	// always an IP literal and port, never a name. Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AllowPrivate lists networks whose loopback, private and
	// carrier-grade NAT addresses may be reached (tools.web.fetch.allowPrivate).
	// Link-local and metadata addresses stay refused.
	AllowPrivate []netip.Prefix
	// AllowHosts lists host names (or IP literals) the owner configured,
	// such as a SearXNG instance on the LAN, whose loopback, private and
	// carrier-grade NAT addresses are accepted. Names match exactly, case
	// aside; link-local and metadata addresses stay refused.
	AllowHosts []string
	// MaxBytes caps a response body, after decompression; more is cut
	// and reported as Truncated. Default [DefaultMaxBytes].
	MaxBytes int64
	// Timeout bounds a whole request: dials, redirects, headers and body.
	// Default [DefaultTimeout].
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; 0 follows none, and
	// a redirect is then an error naming where it went.
	MaxRedirects int
	// UserAgent is sent when a request sets none. Default "Gatehouse/VERSION".
	UserAgent string
	// Logger receives refusals (info) and requests (debug). Default: none.
	Logger *slog.Logger
}

// Client makes HTTP requests that can only reach addresses [Check]
// allows. It is safe for concurrent use. It keeps no idle connections:
// every request dials, so every connection is checked.
type Client struct {
	hc           *http.Client
	resolve      func(ctx context.Context, host string) ([]netip.Addr, error)
	dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	allow        []netip.Prefix
	allowHosts   map[string]bool
	maxBytes     int64
	timeout      time.Duration
	maxRedirects int
	userAgent    string
	log          *slog.Logger
}

// Response is a completed request, its body read.
type Response struct {
	// URL is the final URL, after redirects.
	URL string
	// Status is the HTTP status code; a 4xx or 5xx is not an error here.
	Status      int
	ContentType string
	Header      http.Header
	// Body is at most Options.MaxBytes, decompressed.
	Body []byte
	// Truncated reports that the body was longer than Options.MaxBytes and
	// was cut there.
	Truncated bool
}

// RefusedError reports a request the guard refused: a URL it may not
// request, or an address it may not connect to. Err is an [*AddrError]
// for addresses.
type RefusedError struct {
	// URL is the refused URL, without user information.
	URL string
	// Redirect reports that a redirect led to URL.
	Redirect bool
	Err      error
}

// Error names the URL, whether a redirect led there, and why it is refused.
func (e *RefusedError) Error() string {
	if e.Redirect {
		return fmt.Sprintf("redirect to %s refused: %v", e.URL, e.Err)
	}
	return fmt.Sprintf("%s refused: %v", e.URL, e.Err)
}

// Unwrap returns Err.
func (e *RefusedError) Unwrap() error { return e.Err }

// New returns a Client configured by o.
func New(o Options) *Client {
	c := &Client{
		resolve:      o.Resolver,
		dial:         o.Dial,
		allowHosts:   make(map[string]bool, len(o.AllowHosts)),
		maxBytes:     o.MaxBytes,
		timeout:      o.Timeout,
		maxRedirects: max(o.MaxRedirects, 0),
		userAgent:    o.UserAgent,
		log:          o.Logger,
	}
	if c.resolve == nil {
		c.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if c.dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		c.dial = d.DialContext
	}
	for _, p := range o.AllowPrivate {
		if p.IsValid() {
			c.allow = append(c.allow, p.Masked())
		}
	}
	for _, h := range o.AllowHosts {
		if h = normalizeHost(h); h != "" {
			c.allowHosts[h] = true
		}
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = "Gatehouse/" + version()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With(keyComponent, "egress")
	tr := &http.Transport{
		Proxy:                  nil, // never the environment's proxy: it would dial for us, unchecked
		DialContext:            c.dialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: MaxHeaderBytes,
		DisableKeepAlives:      true,
	}
	c.hc = &http.Client{
		Transport:     &guard{c: c, inner: tr},
		CheckRedirect: c.checkRedirect,
	}
	return c
}

// version is the main module's version, "dev" for a development build.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Fetch GETs rawURL, following redirects as configured, and returns the
// response with its body read. Refusals are [*RefusedError]s.
func (c *Client) Fetch(ctx context.Context, rawURL string) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if err := c.checkURL(u); err != nil {
		return nil, c.refused(u, false, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/markdown,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.5")
	return c.Do(req)
}

// Do sends req through the guard and returns the response with its body
// read (at most Options.MaxBytes). It does not modify req. The caller's
// headers follow redirects within the same origin only: a redirect to
// another scheme, host or port drops every header but Accept,
// Accept-Language and User-Agent, and a request with a body is not
// redirected to another origin at all. Refusals are [*RefusedError]s.
func (c *Client) Do(req *http.Request) (*Response, error) {
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	req = req.Clone(ctx)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	shown := displayURL(req.URL)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.failed(ctx, parent, shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, c.failed(ctx, parent, shown, fmt.Errorf("reading the body: %w", err))
	}
	out := &Response{
		URL:         resp.Request.URL.String(),
		Status:      resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"),
		Header:      resp.Header,
		Body:        body,
	}
	if int64(len(body)) > c.maxBytes {
		out.Body, out.Truncated = body[:c.maxBytes], true
	}
	c.log.DebugContext(parent, "egress request", keyHost, resp.Request.URL.Host,
		keyStatus, out.Status, keyBytes, len(out.Body), keyTruncated, out.Truncated)
	return out, nil
}

// failed rebuilds a request's error: refusals as they are, a timeout as
// [ErrTimeout], the rest with the URL in front instead of net/http's
// "Get \"…\":" prefix.
func (c *Client) failed(ctx, parent context.Context, shown string, err error) error {
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrRedirectLimit) || errors.Is(err, ErrRedirectLoop) {
		return err
	}
	if parent.Err() != nil {
		return fmt.Errorf("%s: %w", shown, context.Cause(parent))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no complete response within %s: %w", shown, c.timeout, ErrTimeout)
	}
	return fmt.Errorf("%s: %w", shown, err)
}

func (c *Client) refused(u *url.URL, redirect bool, err error) *RefusedError {
	e := &RefusedError{URL: displayURL(u), Redirect: redirect, Err: err}
	attrs := []any{keyURL, e.URL, keyRedirect, redirect, keyErr, err}
	var ae *AddrError
	if errors.As(err, &ae) {
		attrs = append(attrs, keyClass, string(ae.Class))
	}
	c.log.Info("egress refused", attrs...)
	return e
}

// displayURL is u without user information, for errors and logs.
func displayURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	v.User = nil
	return v.String()
}

func (c *Client) checkURL(u *url.URL) error {
	return checkURL(u, c.allow, c.allowHosts)
}

// guard is the client's RoundTripper: every request, the first and each
// redirect, has its URL checked before the transport sees it, and
// refusals by the dialer come back as [*RefusedError]s naming the URL.
type guard struct {
	c     *Client
	inner http.RoundTripper
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	redirect := req.Response != nil // set by http.Client on every redirected request
	if err := g.c.checkURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, g.c.refused(req.URL, redirect, err)
	}
	resp, err := g.inner.RoundTrip(req)
	if err != nil {
		var ae *AddrError
		if errors.As(err, &ae) {
			return nil, g.c.refused(req.URL, redirect, ae)
		}
		if redirect {
			return nil, fmt.Errorf("redirect to %s: %w", displayURL(req.URL), err)
		}
	}
	return resp, err
}

// checkRedirect limits redirects, stops loops, and keeps the caller's
// headers and body from following a redirect to another origin.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	to := displayURL(req.URL)
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return fmt.Errorf("redirect to %s not followed, it was already visited: %w", to, ErrRedirectLoop)
		}
	}
	if len(via) > c.maxRedirects {
		if c.maxRedirects == 0 {
			return fmt.Errorf("redirect to %s not followed, redirects are off (fetch that URL instead): %w", to, ErrRedirectLimit)
		}
		return fmt.Errorf("redirect to %s not followed, over the limit of %d: %w", to, c.maxRedirects, ErrRedirectLimit)
	}
	first := via[0]
	if !sameOrigin(first.URL, req.URL) {
		if first.GetBody != nil && req.GetBody != nil {
			return c.refused(req.URL, true, errors.New("a request with a body is not redirected to another origin"))
		}
		for k := range req.Header {
			switch k {
			case "Accept", "Accept-Language", "User-Agent":
			default:
				req.Header.Del(k)
			}
		}
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && normalizeHost(a.Hostname()) == normalizeHost(b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// dialContext is the only way the client connects: it resolves host
// itself, refuses unless every address passes the check, then dials the
// checked addresses, never the name.
func (c *Client) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("dial address %q has no valid port", addr)
	}
	addrs, literal, err := c.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	anyPrivate := c.allowHosts[normalizeHost(host)]
	for _, ip := range addrs {
		if e := classify(ip, c.allow, anyPrivate); e != nil {
			if !literal {
				e.Host = host
			}
			return nil, e
		}
	}
	var first error
	for _, ip := range addrs {
		target := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		conn, err := c.dial(ctx, network, target.String())
		if err != nil {
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if err := checkPeer(conn, target); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	return nil, first
}

// lookup returns host's addresses: host itself when it is an address,
// else what the resolver says (deduplicated, at most maxAddrs).
func (c *Client) lookup(ctx context.Context, host string) (addrs []netip.Addr, literal bool, err error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, true, nil
	}
	if err := checkHost(host, nil, nil); err != nil {
		return nil, false, err // legacy numeric forms never reach a resolver
	}
	found, err := c.resolve(ctx, host)
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s: %w", host, err)
	}
	seen := make(map[netip.Addr]bool, len(found))
	for _, ip := range found {
		if !seen[ip] && len(addrs) < maxAddrs {
			seen[ip] = true
			addrs = append(addrs, ip)
		}
	}
	if len(addrs) == 0 {
		return nil, false, fmt.Errorf("looking up %s: no addresses", host)
	}
	return addrs, false, nil
}

// checkPeer makes sure a TCP connection reached the address that was
// checked, in case Dial is something cleverer than a dialer.
func checkPeer(conn net.Conn, want netip.AddrPort) error {
	tcp, ok := conn.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	got := tcp.AddrPort()
	if got.Addr().Unmap() != want.Addr() || got.Port() != want.Port() {
		return fmt.Errorf("dialed %s but connected to %s", want, got)
	}
	return nil
}
