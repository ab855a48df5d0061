package gateway

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/rpc"
)

// routes builds the handler chain. Order matters: security headers first so
// that every response has them, /healthz before anything that could refuse
// it, the lockout before authentication so that a locked-out client learns
// nothing from the token it tries, and authentication before any route.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveRoot)
	mux.HandleFunc("POST /v1/chat/completions", s.serveChatCompletions)
	mux.HandleFunc("GET /v1/models", s.serveOpenAIModels)
	mux.HandleFunc("/", s.serveNotFound)
	authed := s.requireToken(mux)

	return s.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		if r.URL.Path == "/healthz" {
			s.serveHealthz(w, r)
			return
		}
		key := clientKey(r.RemoteAddr)
		if wait, locked := s.lock.locked(key, s.now()); locked {
			writeLockedOut(w, wait)
			return
		}
		if !s.hostAllowed(r.Host) {
			writeError(w, http.StatusForbidden, rpc.CodeForbidden, "the Host header names no address of this gateway: if a proxy such as Tailscale Serve forwards to it, add that name with gatehouse config set gateway.allowedHosts '[\"NAME\"]'")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if r.URL.Path == "/ws" {
			// Authenticated in the WebSocket handshake: browsers cannot
			// set headers on an upgrade.
			s.serveWS(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	}))
}

func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Cache-Control", "no-store")
}

// serveHealthz answers liveness probes. It needs no authentication, so it
// says nothing but ok: no version, no uptime.
func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, rpc.CodeInvalidRequest, "use GET")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"ok":true}`))
}

// requireToken lets through requests that carry the secret as a bearer
// token. A wrong token counts toward the client's lockout; a missing one does
// not, so that a page or probe without credentials cannot lock out the CLI.
// A token in the URL is never accepted: URLs end up in logs and histories.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.auth.Load()
		presented, hasHeader := bearer(r.Header)
		if !st.checkToken(presented) {
			if hasHeader {
				s.failAuth(r.RemoteAddr)
			}
			writeUnauthorized(w)
			return
		}
		if queryHasToken(r, st) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, rpc.CodeUnauthorized,
				"credentials are not accepted in the URL: send only Authorization: Bearer, and rotate the token with gatehouse token rotate if it was shared")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the token of an Authorization: Bearer header, and whether
// the request had an Authorization header at all.
func bearer(h http.Header) (string, bool) {
	v := h.Values("Authorization")
	if len(v) == 0 {
		return "", false
	}
	if len(v) > 1 {
		return "", true
	}
	scheme, tok, ok := strings.Cut(v[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

// queryHasToken reports whether the URL query carries credentials: a token
// or access_token parameter, or any value equal to the secret.
func queryHasToken(r *http.Request, st *authState) bool {
	if r.URL.RawQuery == "" {
		return false
	}
	q := r.URL.Query()
	found := false
	for k, vs := range q {
		switch strings.ToLower(k) {
		case "token", "access_token", "password", "auth":
			found = true
		}
		for _, v := range vs {
			if st.checkToken(v) {
				found = true
			}
		}
	}
	return found
}

// failAuth records a failed authentication and logs the lockout it causes,
// once, with the client's address and never what it presented.
func (s *Server) failAuth(remoteAddr string) {
	until, lockedNow := s.lock.fail(clientKey(remoteAddr), s.now())
	if lockedNow {
		s.log.Warn("client locked out after failed authentication",
			keyRemote, remoteAddr, keyFailures, lockoutFailures, keyUntil, until.UTC().Format(time.RFC3339))
	}
}

// hostAllowed guards against DNS rebinding: a gateway bound to loopback
// answers only to loopback names, so a page whose name was rebound to
// 127.0.0.1 cannot reach it as same-origin. Other binds are reached by names
// the gateway cannot know.
func (s *Server) hostAllowed(hostport string) bool {
	g := s.auth.Load().cfg.Gateway
	loopback := g.Bind == "loopback"
	if g.Bind == "custom" {
		if ip, err := netip.ParseAddr(g.CustomBindHost); err == nil && ip.IsLoopback() {
			loopback = true
		}
	}
	if !loopback {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, h := range g.AllowedHosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), host) {
			return true
		}
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

type rootResponse struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, rootResponse{Name: "gatehouse", Version: s.version})
}

func (s *Server) serveNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, rpc.CodeNotFound, "no such route")
}

type errorResponse struct {
	Error rpc.Error `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error; see the gateway log"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorResponse{Error: rpc.Error{Code: code, Message: msg}})
}

func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeError(w, http.StatusUnauthorized, rpc.CodeUnauthorized,
		"missing or wrong bearer token: send Authorization: Bearer with gateway.auth.token (gatehouse doctor checks it)")
}

func writeLockedOut(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, rpc.CodeLockedOut,
		"too many failed authentication attempts from this address: retry after "+strconv.Itoa(secs)+" seconds")
}

// statusRecorder remembers the status code for the request log. Unwrap lets
// the WebSocket upgrade reach the connection's Hijacker.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs each request at debug: method, path and status. Never
// the query or the headers, which may carry credentials.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.log.Debug("http request",
			keyMethod, r.Method,
			keyPath, truncate(r.URL.Path, 256),
			keyStatus, rec.status,
			keyRemote, r.RemoteAddr,
			keyDuration, time.Since(start))
	})
}
