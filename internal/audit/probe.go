package audit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"gatehouse/internal/state"
)

// lockoutAttempts is how many wrong tokens the gateway accepts before it
// locks the client out (internal/gateway's lockoutFailures).
const lockoutAttempts = 10

// target is the running gateway the deep checks probe.
type target struct {
	// ip is the loopback address probes go to, whatever the gateway binds.
	ip   netip.Addr
	port int
	// pid is the lock holder's process id, 0 when unknown.
	pid int
	// loopbackOnly reports a gateway bound to loopback only, which must
	// refuse foreign Host headers.
	loopbackOnly bool
}

func (t *target) base() string { return "http://" + hostPort(t.ip.String(), t.port) }

// gatewayChecks are the checks that need a running gateway.
func gatewayChecks() []string {
	return []string{CheckProbeUnauth, CheckProbeHost, CheckProbeWSOrigin, CheckProbeWSUnauth, CheckProbeLockout, CheckListen, CheckServiceUser}
}

// findGateway works out where the gateway of this state dir answers on
// loopback, and whether it runs. It returns nil, having recorded why, when
// there is nothing to probe.
func (a *auditor) findGateway(ctx context.Context, r *results, e *configEnv) *target {
	skipAll := func(reason string) *target {
		r.skip(CheckGatewayRunning, reason)
		for _, id := range gatewayChecks() {
			r.skip(id, reason)
		}
		return nil
	}
	if e == nil {
		return skipAll("the config could not be read, so the gateway's address is unknown")
	}
	g := e.cfg.Gateway
	if g.Remote.URL != "" {
		return skipAll("gateway.remote.url is set: the gateway runs on another host; run gatehouse security audit --deep there")
	}
	t := &target{port: g.Port}
	switch g.Bind {
	case "loopback":
		t.ip, t.loopbackOnly = netip.MustParseAddr("127.0.0.1"), true
	case "lan":
		t.ip = netip.MustParseAddr("127.0.0.1")
	case "custom":
		ip, err := netip.ParseAddr(g.CustomBindHost)
		switch {
		case err != nil:
			return skipAll(fmt.Sprintf("gateway.customBindHost %q is not an IP address", g.CustomBindHost))
		case ip.Unmap().IsLoopback():
			t.ip, t.loopbackOnly = ip.Unmap(), true
		case ip.IsUnspecified() && ip.Is4():
			t.ip = netip.MustParseAddr("127.0.0.1")
		case ip.IsUnspecified():
			t.ip = netip.IPv6Loopback()
		default:
			return skipAll(fmt.Sprintf("the gateway listens only on %s, which is not a loopback address; the audit probes loopback only (run the probes from a machine that may reach it, with curl)", ip))
		}
	default:
		return skipAll(fmt.Sprintf("gateway.bind %q listens only on a non-loopback address; the audit probes loopback only", g.Bind))
	}
	if pid, err := state.LockHolder(a.dir.Lock()); err == nil {
		t.pid = pid
	}
	client := a.httpClient(nil)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base()+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		reason := fmt.Sprintf("no gateway answers on %s (start it: %s gateway run)", t.base(), a.cmd)
		if t.pid > 0 {
			reason = fmt.Sprintf("the gateway (pid %d) holds the lock but does not answer on %s: %v", t.pid, t.base(), err)
		}
		return skipAll(reason)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return skipAll(fmt.Sprintf("%s/healthz answers %s: that is not a Gatehouse gateway", t.base(), resp.Status))
	}
	ev := "GET /healthz → 200"
	if t.pid > 0 {
		ev += fmt.Sprintf(", pid %d holds %s", t.pid, a.dir.Lock())
	}
	r.pass(CheckGatewayRunning, "answers on "+t.base())
	r.evidence(CheckGatewayRunning, "curl "+t.base()+"/healthz", ev)
	return t
}

// httpClient returns a client that dials only loopback addresses, from
// local when given, through no proxy, following no redirect.
func (a *auditor) httpClient(local *net.TCPAddr) *http.Client {
	return &http.Client{Transport: loopbackTransport(local, a.timeout), Timeout: a.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func loopbackTransport(local *net.TCPAddr, timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: timeout}
	if local != nil {
		d.LocalAddr = local
	}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				return nil, fmt.Errorf("the audit probes only loopback addresses, not %s", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}
}

// probeRoutes asks for routes other than /healthz without credentials.
// Every one must be refused (401, or 403/429 before authentication). The
// POST carries an empty object, which no handler could act on.
func (a *auditor) probeRoutes(ctx context.Context, r *results, t *target) {
	routes := []struct{ method, path, body string }{
		{"GET", "/", ""}, {"HEAD", "/", ""}, {"GET", "/v1/models", ""}, {"POST", "/v1/chat/completions", "{}"},
		{"GET", "/healthz/", ""}, {"GET", "/metrics", ""}, {"GET", "/debug/pprof/", ""}, {"GET", "/debug/vars", ""},
		{"GET", "/ui/", ""}, {"GET", "/api/config", ""}, {"GET", "/config", ""}, {"GET", "/favicon.ico", ""},
		{"OPTIONS", "/v1/models", ""},
	}
	client := a.httpClient(nil)
	var open []string
	for _, rt := range routes {
		p := Probe{CheckID: CheckProbeUnauth, Request: fmt.Sprintf("%s %s%s without credentials", rt.method, t.base(), rt.path)}
		var body io.Reader
		if rt.body != "" {
			body = strings.NewReader(rt.body)
		}
		req, _ := http.NewRequestWithContext(ctx, rt.method, t.base()+rt.path, body)
		if rt.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			p.Result = "error: " + err.Error()
			p.Secure = true
			r.probes = append(r.probes, p)
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		p.Result = resp.Status
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
			p.Secure = true
		default:
			open = append(open, rt.method+" "+rt.path+" → "+resp.Status)
			r.add(Finding{CheckID: CheckProbeUnauth, Subject: rt.method + " " + rt.path, Severity: SeverityCritical,
				Detail:      fmt.Sprintf("%s %s answered %s without credentials: the request reached a handler before authentication", rt.method, rt.path, resp.Status),
				Remediation: "stop the gateway (" + a.cmd + " gateway stop), upgrade gatehouse and report the route as a security bug"})
		}
		r.probes = append(r.probes, p)
	}
	if len(open) == 0 {
		r.pass(CheckProbeUnauth, fmt.Sprintf("%d routes refused without credentials", len(routes)))
	}
}

// probeHost sends a foreign Host header, as a page whose name was rebound
// to 127.0.0.1 would. A loopback gateway must refuse it before looking at
// credentials.
func (a *auditor) probeHost(ctx context.Context, r *results, t *target) {
	if !t.loopbackOnly {
		r.skip(CheckProbeHost, "the gateway binds beyond loopback, where it is reached by names it cannot know, so every Host is accepted")
		return
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base()+"/", nil)
	req.Host = "rebind.attacker.example:" + strconv.Itoa(t.port)
	p := Probe{CheckID: CheckProbeHost, Request: "GET " + t.base() + "/ with Host: " + req.Host}
	resp, err := a.httpClient(nil).Do(req)
	if err != nil {
		p.Result, p.Secure = "error: "+err.Error(), true
		r.probes = append(r.probes, p)
		r.skip(CheckProbeHost, "the request failed: "+err.Error())
		return
	}
	resp.Body.Close()
	p.Result = resp.Status
	p.Secure = resp.StatusCode == http.StatusForbidden
	r.probes = append(r.probes, p)
	if !p.Secure {
		r.add(Finding{CheckID: CheckProbeHost, Subject: "Host", Severity: SeverityWarn,
			Detail:      fmt.Sprintf("a request with Host %q got %s instead of 403: a web page rebound to 127.0.0.1 can talk to the gateway as same-origin", req.Host, resp.Status),
			Remediation: "upgrade gatehouse and report it as a security bug"})
		return
	}
	r.pass(CheckProbeHost, "foreign Host refused with 403")
}

// probeWSOrigin attempts WebSocket upgrades with a foreign Origin and with
// the opaque "null" origin; both must be refused.
func (a *auditor) probeWSOrigin(ctx context.Context, r *results, t *target) {
	client := a.httpClient(nil)
	bad := 0
	for _, origin := range []string{"http://attacker.example", "null"} {
		key := make([]byte, 16)
		rand.Read(key)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base()+"/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
		req.Header.Set("Origin", origin)
		p := Probe{CheckID: CheckProbeWSOrigin, Request: "WebSocket upgrade " + t.base() + "/ws with Origin: " + origin}
		resp, err := client.Do(req)
		if err != nil {
			p.Result, p.Secure = "error: "+err.Error(), true
			r.probes = append(r.probes, p)
			continue
		}
		resp.Body.Close()
		p.Result = resp.Status
		p.Secure = resp.StatusCode != http.StatusSwitchingProtocols
		r.probes = append(r.probes, p)
		if !p.Secure {
			bad++
			r.add(Finding{CheckID: CheckProbeWSOrigin, Subject: "Origin " + origin, Severity: SeverityCritical,
				Detail:      fmt.Sprintf("the WebSocket upgrade with Origin %q was accepted (%s): any web page the owner opens could drive the gateway's RPC", origin, resp.Status),
				Remediation: "stop the gateway, upgrade gatehouse and report it as a security bug"})
		}
	}
	if bad == 0 {
		r.pass(CheckProbeWSOrigin, "foreign and null origins refused")
	}
}

// probeWSUnauth opens the RPC WebSocket without credentials and asks for
// the status before authenticating; the gateway must refuse.
func (a *auditor) probeWSUnauth(ctx context.Context, r *results, t *target) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	url := "ws://" + hostPort(t.ip.String(), t.port) + "/ws"
	p := Probe{CheckID: CheckProbeWSUnauth, Request: "WebSocket " + url + " without credentials, then a status request before connect"}
	defer func() { r.probes = append(r.probes, p) }()
	hc := &http.Client{Transport: loopbackTransport(nil, a.timeout)}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		p.Result, p.Secure = strings.TrimSpace("refused "+status+": "+err.Error()), true
		r.pass(CheckProbeWSUnauth, "the upgrade was refused")
		return
	}
	defer c.CloseNow()
	// The first frame is the challenge; the request that follows is not
	// connect, so it must be refused.
	if _, _, err := c.Read(ctx); err != nil {
		p.Result, p.Secure = "closed before the challenge: "+err.Error(), true
		r.pass(CheckProbeWSUnauth, "closed without answering")
		return
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"req","id":"audit-1","method":"status"}`)); err != nil {
		p.Result, p.Secure = "closed: "+err.Error(), true
		r.pass(CheckProbeWSUnauth, "closed without answering")
		return
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		p.Result, p.Secure = "closed without an answer", true
		r.pass(CheckProbeWSUnauth, "closed without answering")
		return
	}
	var f struct {
		OK    *bool `json:"ok"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(b, &f)
	if f.OK != nil && *f.OK {
		p.Result = "answered the status request"
		r.add(Finding{CheckID: CheckProbeWSUnauth, Subject: "/ws", Severity: SeverityCritical,
			Detail:      "the RPC answered a status request sent before authenticating: anyone who can reach the port controls the gateway",
			Remediation: "stop the gateway (" + a.cmd + " gateway stop), upgrade gatehouse and report it as a security bug"})
		return
	}
	code := "refused"
	if f.Error != nil {
		code = "refused: " + f.Error.Code
	}
	p.Result, p.Secure = code, true
	r.pass(CheckProbeWSUnauth, "the status request before connect was "+code)
}

// probeLockout sends wrong bearer tokens until the gateway must lock the
// client out, then one more, which must get 429. It sends them from a
// loopback address of its own (127.x.y.z, never 127.0.0.1), and the
// gateway locks out by address, so the owner's CLI and browser on
// 127.0.0.1 keep working. A gateway reachable only on [::1] has no such
// spare address, and the probe is skipped rather than lock the owner out.
func (a *auditor) probeLockout(ctx context.Context, r *results, t *target) {
	if !t.ip.Is4() {
		r.skip(CheckProbeLockout, fmt.Sprintf("the gateway is probed on %s, which has no spare loopback address: the probe would lock this host's CLI out for 5 minutes", t.ip))
		return
	}
	src, err := spareLoopback()
	if err != nil {
		r.skip(CheckProbeLockout, "cannot pick a spare loopback address: "+err.Error())
		return
	}
	client := a.httpClient(&net.TCPAddr{IP: src.AsSlice()})
	tok := make([]byte, 16)
	rand.Read(tok)
	bad := "gatehouse-audit-lockout-probe-" + hex.EncodeToString(tok)
	send := func() (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base()+"/", nil)
		req.Header.Set("Authorization", "Bearer "+bad)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	p := Probe{CheckID: CheckProbeLockout, Source: src.String(),
		Request: fmt.Sprintf("%d × GET %s/ with a wrong bearer token, then one more", lockoutAttempts, t.base())}
	defer func() { r.probes = append(r.probes, p) }()
	var codes []string
	for i := 0; i < lockoutAttempts; i++ {
		code, err := send()
		if err != nil {
			if i == 0 && isBindError(err) {
				p.Result = "cannot send from " + src.String() + ": " + err.Error()
				r.skip(CheckProbeLockout, "cannot send from a spare loopback address on this host ("+err.Error()+"); sending from 127.0.0.1 would lock this host's CLI out for 5 minutes")
				return
			}
			p.Result = "error: " + err.Error()
			r.skip(CheckProbeLockout, "the probe failed: "+err.Error())
			return
		}
		codes = append(codes, strconv.Itoa(code))
		if code == http.StatusTooManyRequests {
			break
		}
	}
	code, err := send()
	if err != nil {
		p.Result = "error: " + err.Error()
		r.skip(CheckProbeLockout, "the probe failed: "+err.Error())
		return
	}
	p.Result = fmt.Sprintf("%s, then %d", strings.Join(compactCodes(codes), ", "), code)
	if code == http.StatusTooManyRequests {
		p.Secure = true
		r.pass(CheckProbeLockout, fmt.Sprintf("locked out after %d wrong tokens (source %s, locked for 5 minutes; 127.0.0.1 is unaffected)", len(codes), src))
		return
	}
	r.add(Finding{CheckID: CheckProbeLockout, Subject: "lockout", Severity: SeverityWarn,
		Detail:      fmt.Sprintf("after %d wrong tokens from %s the gateway still answered %d, not 429: nothing slows down guessing the token", lockoutAttempts, src, code),
		Remediation: "upgrade gatehouse and report it as a security bug"})
}

// spareLoopback picks a random loopback address other than 127.0.0.1, so
// that each run's lockout is its own.
func spareLoopback() (netip.Addr, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<16))
	if err != nil {
		return netip.Addr{}, err
	}
	v := n.Int64()
	return netip.AddrFrom4([4]byte{127, 200 + byte(v%50), byte(v >> 8), 2 + byte(v%250)}), nil
}

// isBindError reports that the spare source address is not usable here.
func isBindError(err error) bool { return errors.Is(err, syscall.EADDRNOTAVAIL) }

// compactCodes writes runs of equal status codes as "401 ×10".
func compactCodes(codes []string) []string {
	var out []string
	for i := 0; i < len(codes); {
		j := i
		for j < len(codes) && codes[j] == codes[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", codes[i], j-i))
		} else {
			out = append(out, codes[i])
		}
		i = j
	}
	return out
}
