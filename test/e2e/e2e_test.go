// Package e2e drives the real gatehouse binary the way a user following the
// seed guides does: onboard, config set, gateway run, curl, status, stop.
// Every connection goes to 127.0.0.1.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "gatehouse/cmd/gatehouse")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one isolated Gatehouse: its own state dir, home and port.
type instance struct {
	t     *testing.T
	state string
	home  string
	port  int
	env   []string
}

func newInstance(t *testing.T) *instance {
	t.Helper()
	root := t.TempDir()
	in := &instance{t: t, state: filepath.Join(root, "state"), home: filepath.Join(root, "home"), port: freePort(t)}
	if err := os.MkdirAll(in.home, 0o700); err != nil {
		t.Fatal(err)
	}
	in.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + in.home,
		"GATEHOUSE_STATE_DIR=" + in.state,
	}
	return in
}

// run runs gatehouse and returns stdout, stderr and the exit code.
func (in *instance) run(args ...string) (string, string, int) {
	return in.runIn("", args...)
}

func (in *instance) runIn(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = in.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			in.t.Fatalf("gatehouse %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// must runs gatehouse and fails the test unless it exits 0.
func (in *instance) must(args ...string) string {
	in.t.Helper()
	out, errs, code := in.run(args...)
	if code != 0 {
		in.t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (in *instance) onboard() {
	in.t.Helper()
	in.must("onboard", "--non-interactive", "--accept-risk", "--mode", "local")
	in.must("config", "set", "gateway.port", strconv.Itoa(in.port))
}

func (in *instance) token() string {
	in.t.Helper()
	return strings.TrimSpace(in.must("config", "get", "gateway.auth.token", "--reveal"))
}

// gateway is a running `gatehouse gateway run`.
type gateway struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (g *gateway) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stderr.String()
}

type lockedWriter struct{ g *gateway }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	return w.g.stderr.Write(p)
}

func (in *instance) start(extraEnv ...string) *gateway {
	in.t.Helper()
	g := &gateway{done: make(chan error, 1)}
	g.cmd = exec.Command(binary, "gateway", "run")
	g.cmd.Env = append(append([]string{}, in.env...), extraEnv...)
	g.cmd.Stderr = lockedWriter{g}
	if err := g.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	in.t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
	})
	return g
}

// waitHealthy waits until /healthz answers or the gateway exits.
func (in *instance) waitHealthy(g *gateway) {
	in.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-g.done:
			g.done <- err
			in.t.Fatalf("gateway exited early: %v\n%s", err, g.output())
		default:
		}
		resp, err := http.Get(in.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.t.Fatalf("gateway not healthy within 20s\n%s", g.output())
}

// waitExit waits for the gateway process to end and returns its exit code.
func (g *gateway) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case err := <-g.done:
		g.done <- err
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not exit\n%s", g.output())
	}
	return -1
}

func (in *instance) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(in.port) + path
}

func (in *instance) get(path, token string) *http.Response {
	in.t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.url(path), nil)
	if err != nil {
		in.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestQuickStart is the first acceptance point, as a new user runs it.
func TestQuickStart(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	tok := in.token()
	if len(tok) != 64 {
		t.Fatalf("token length = %d, want 64 hex characters", len(tok))
	}
	g := in.start()
	in.waitHealthy(g)

	if got := in.get("/healthz", "").StatusCode; got != 200 {
		t.Errorf("GET /healthz = %d, want 200", got)
	}
	if got := in.get("/", "").StatusCode; got != 401 {
		t.Errorf("GET / without token = %d, want 401", got)
	}
	if got := in.get("/", tok).StatusCode; got != 200 {
		t.Errorf("GET / with token = %d, want 200", got)
	}
	if got := in.get("/?token="+tok, "").StatusCode; got != 401 {
		t.Errorf("GET /?token= = %d, want 401 (tokens are never accepted in a URL)", got)
	}

	var st struct {
		Gateway struct {
			Running bool           `json:"running"`
			Healthy bool           `json:"healthy"`
			Status  map[string]any `json:"status"`
		} `json:"gateway"`
	}
	if err := json.Unmarshal([]byte(in.must("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Gateway.Running || !st.Gateway.Healthy {
		t.Errorf("status --json gateway = %+v, want running and healthy", st.Gateway)
	}
	if pid, _ := st.Gateway.Status["pid"].(float64); int(pid) != g.cmd.Process.Pid {
		t.Errorf("status pid = %v, want %d", st.Gateway.Status["pid"], g.cmd.Process.Pid)
	}
	if out := in.must("status"); !strings.Contains(out, "running, healthy") {
		t.Errorf("status text = %q, want it to say running, healthy", out)
	}
	in.must("health")
	if out := in.must("gateway", "call", "health"); !strings.Contains(out, `"ok": true`) {
		t.Errorf("gateway call health = %s", out)
	}
	if out := in.must("gateway", "call", "config.get"); strings.Contains(out, tok) {
		t.Errorf("config.get leaked the token")
	}
	if out := in.must("logs", "--lines", "50"); !strings.Contains(out, "gateway listening") {
		t.Errorf("logs = %q, want the listening line", out)
	}

	// A second gateway on the same state dir is refused, naming the PID.
	_, errs, code := in.run("gateway", "run")
	if code == 0 || !strings.Contains(errs, strconv.Itoa(g.cmd.Process.Pid)) {
		t.Errorf("second gateway: exit %d, stderr %q; want failure naming pid %d", code, errs, g.cmd.Process.Pid)
	}

	in.must("gateway", "stop")
	if code := g.waitExit(t); code != 0 {
		t.Errorf("gateway exit code after stop = %d, want 0\n%s", code, g.output())
	}
	if _, _, code := in.run("gateway", "status"); code == 0 {
		t.Errorf("gateway status after stop exited 0, want 1")
	}

	assertPrivateTree(t, in.state)
	assertTokenConfined(t, in.state, tok)
}

// assertPrivateTree is the issue's `find ~/.gatehouse -printf '%m %p\n'`
// check: 700 directories and 600 files only.
func assertPrivateTree(t *testing.T, root string) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", p, got, want)
		}
		return nil
	})
}

// assertTokenConfined checks the token is in no file under the state dir
// (the secret store keeps it encrypted), in particular in no log line.
func assertTokenConfined(t *testing.T, root, tok string) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		if bytes.Contains(b, []byte(tok)) {
			t.Errorf("token found in %s", p)
		}
		return nil
	})
}

// TestSeedConfigLines runs every `openclaw config set` line of the seed
// guides with gatehouse and reads each value back.
func TestSeedConfigLines(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	tok := strings.Repeat("0123456789abcdef", 4)
	cases := []struct{ key, value, want string }{
		{"gateway.mode", "local", "local"},
		{"agents.defaults.model.primary", "anthropic/claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5-20250929"},
		{"channels.telegram.dmPolicy", "pairing", "pairing"},
		{"channels.telegram.configWrites", "false", "false"},
		{"channels.telegram.groupPolicy", "disabled", "disabled"},
		{"agents.defaults.sandbox.mode", "all", "all"},
		{"agents.defaults.sandbox.scope", "session", "session"},
		{"agents.defaults.sandbox.docker.network", "none", "none"},
		{"agents.defaults.sandbox.workspaceAccess", "ro", "ro"},
		{"agents.defaults.sandbox.docker.readOnlyRoot", "true", "true"},
		{"tools.deny", `["gateway", "nodes"]`, "[\n  \"gateway\",\n  \"nodes\"\n]"},
		{"tools.elevated.enabled", "false", "false"},
		{"discovery.mdns.mode", "off", "off"},
		{"gateway.bind", "loopback", "loopback"},
		{"gateway.port", strconv.Itoa(in.port), strconv.Itoa(in.port)},
		{"logging.redactSensitive", "tools", "tools"},
		{"gateway.controlUi.enabled", "true", "true"},
		{"gateway.controlUi.enabled", "false", "false"},
		{"gateway.controlUi.allowInsecureAuth", "false", "false"},
		{"gateway.auth.mode", "token", "token"},
	}
	for _, c := range cases {
		in.must("config", "set", c.key, c.value)
		if got := strings.TrimSpace(in.must("config", "get", c.key)); got != c.want {
			t.Errorf("config get %s = %q, want %q", c.key, got, c.want)
		}
	}
	// The seed's token lines: the same value for auth and remote, then its
	// "tokens match" check, which holds because both refer to one secret.
	in.must("config", "set", "gateway.auth.token", tok)
	in.must("config", "set", "gateway.remote.token", tok)
	auth := in.must("config", "get", "gateway.auth.token")
	remote := in.must("config", "get", "gateway.remote.token")
	if auth != remote {
		t.Errorf("auth token %q and remote token %q differ", auth, remote)
	}
	if strings.Contains(auth, tok) {
		t.Errorf("config get gateway.auth.token printed the token")
	}
	if got := strings.TrimSpace(in.must("config", "get", "gateway.auth.token", "--reveal")); got != tok {
		t.Errorf("--reveal = %q, want the token", got)
	}
	out := in.must("config", "get", "tools.elevated")
	if !strings.Contains(out, `"enabled": false`) {
		t.Errorf("config get tools.elevated = %s", out)
	}
	// A misspelt key fails with a suggestion, and nothing is written.
	_, errs, code := in.run("config", "set", "gateway.bnd", "loopback")
	if code == 0 || !strings.Contains(errs, `"gateway.bind"`) {
		t.Errorf("misspelt key: exit %d, stderr %q; want failure suggesting gateway.bind", code, errs)
	}
	_, errs, code = in.run("config", "set", "gateway.bind", "foo")
	if code == 0 || !strings.Contains(errs, "loopback, lan, tailnet, custom") {
		t.Errorf("bad bind: exit %d, stderr %q; want the allowed values", code, errs)
	}
	in.must("config", "validate")
	assertPrivateTree(t, in.state)
}

// TestExposureRefused: a non-loopback bind without strong auth does not start.
func TestExposureRefused(t *testing.T) {
	cases := []struct {
		name string
		set  [][]string
		want string
	}{
		{"lan_with_auth_off", [][]string{{"gateway.bind", "lan"}, {"gateway.auth.mode", "none"}}, "gateway.auth.mode"},
		{"lan_with_short_token", [][]string{{"gateway.bind", "lan"}, {"gateway.auth.token", "abc", "--plaintext"}}, "128 bits"},
		{"loopback_with_auth_off", [][]string{{"gateway.auth.mode", "none"}}, "gateway.auth.mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newInstance(t)
			in.onboard()
			for _, kv := range c.set {
				in.must(append([]string{"config", "set"}, kv...)...)
			}
			g := in.start()
			if code := g.waitExit(t); code == 0 || !strings.Contains(g.output(), c.want) {
				t.Errorf("gateway run: exit %d, stderr %q; want a refusal mentioning %q", code, g.output(), c.want)
			}
		})
	}
	t.Run("lan_with_strong_token_binds", func(t *testing.T) {
		in := newInstance(t)
		in.onboard()
		in.must("config", "set", "gateway.bind", "lan")
		g := in.start()
		in.waitHealthy(g)
		var st struct {
			Gateway struct {
				Status map[string]any `json:"status"`
			} `json:"gateway"`
		}
		if err := json.Unmarshal([]byte(in.must("status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		addrs, _ := st.Gateway.Status["listen"].([]any)
		if len(addrs) != 1 {
			t.Fatalf("listen = %v, want one address", st.Gateway.Status["listen"])
		}
		if addr, _ := addrs[0].(string); !strings.HasPrefix(addr, "0.0.0.0:") && !strings.HasPrefix(addr, "[::]:") {
			t.Errorf("listen address = %q, want all interfaces", addr)
		}
	})
}

// TestLockout: 10 bad tokens, then the 11th request is refused with 429 even
// with the right token.
func TestLockout(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	tok := in.token()
	g := in.start()
	in.waitHealthy(g)
	for i := 0; i < 10; i++ {
		if got := in.get("/", "wrong-token-"+strconv.Itoa(i)).StatusCode; got != 401 {
			t.Fatalf("bad token %d: %d, want 401", i, got)
		}
	}
	if got := in.get("/", tok).StatusCode; got != 429 {
		t.Errorf("right token after 10 failures = %d, want 429", got)
	}
	if got := in.get("/healthz", "").StatusCode; got != 200 {
		t.Errorf("/healthz during lockout = %d, want 200", got)
	}
	// The CLI is locked out too, and says so.
	_, errs, code := in.run("gateway", "call", "health")
	if code == 0 || !strings.Contains(strings.ToLower(errs), "too many") {
		t.Errorf("CLI during lockout: exit %d, stderr %q", code, errs)
	}
}

// TestReloadAndNotify: sd_notify datagrams, SIGHUP with a bad config keeps
// the old one, restart in place, SIGTERM drains.
func TestReloadAndNotify(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	waitMsg := func(want string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("notify socket closed waiting for %s", want)
				}
				if strings.Contains(m, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s datagram", want)
			}
		}
	}
	g := in.start("NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	waitMsg("READY=1")
	waitMsg("WATCHDOG=1")
	in.waitHealthy(g)

	// An invalid config on disk: SIGHUP keeps the old one.
	cfgPath := filepath.Join(in.state, "gatehouse.json")
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(`{"gateway": {"bnd": "lan"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd.Process.Signal(syscall.SIGHUP)
	waitMsg("RELOADING=1")
	waitMsg("READY=1")
	if !waitLog(g, "config reload refused") {
		t.Errorf("no log line about the refused reload:\n%s", g.output())
	}
	if got := in.get("/healthz", "").StatusCode; got != 200 {
		t.Errorf("healthz after refused reload = %d", got)
	}
	if err := os.WriteFile(cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	in.must("health")

	// Restart in place: same PID, a new process image.
	in.must("gateway", "restart")
	// To systemd an in-place restart is a reload, never a stop.
	waitMsg("RELOADING=1")
	waitMsg("READY=1")
	in.must("health")

	g.cmd.Process.Signal(syscall.SIGTERM)
	waitMsg("STOPPING=1")
	if code := g.waitExit(t); code != 0 {
		t.Errorf("exit after SIGTERM = %d\n%s", code, g.output())
	}
}

func waitLog(g *gateway, s string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(g.output(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestSecretsStdin: secrets come from stdin, never argv, and migrate moves
// plaintext secrets out of the config.
func TestSecretsStdin(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	const val = "xoxb-1234567890-abcdefghijklmnop"
	if _, errs, code := in.runIn(val+"\n", "secrets", "set", "slack.token"); code != 0 {
		t.Fatalf("secrets set: %d %s", code, errs)
	}
	out := in.must("secrets", "list")
	if !strings.Contains(out, "slack.token") || strings.Contains(out, val) {
		t.Errorf("secrets list = %q", out)
	}
	plain := "sk-test-" + strings.Repeat("a", 40)
	in.must("config", "set", "models.providers.openai.apiKey", plain, "--plaintext")
	b, _ := os.ReadFile(filepath.Join(in.state, "gatehouse.json"))
	if !bytes.Contains(b, []byte(plain)) {
		t.Fatalf("--plaintext did not write plaintext")
	}
	doctor, _, _ := in.run("doctor", "--json")
	if !strings.Contains(doctor, "plaintext_secrets") || strings.Contains(doctor, plain) {
		t.Errorf("doctor should flag the plaintext secret without printing it: %s", doctor)
	}
	in.must("secrets", "migrate")
	assertTokenConfined(t, in.state, plain)
	assertTokenConfined(t, in.state, val)
	in.must("doctor")
}

// TestDoctorFix: loosened modes are reported and repaired.
func TestDoctorFix(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	os.Chmod(filepath.Join(in.state, "gatehouse.json"), 0o644)
	os.Chmod(in.state, 0o755)
	if _, _, code := in.run("doctor"); code == 0 {
		t.Errorf("doctor with 0644 config exited 0")
	}
	out := in.must("doctor", "--fix")
	if !strings.Contains(out, "FIXED") {
		t.Errorf("doctor --fix output = %q, want FIXED rows", out)
	}
	assertPrivateTree(t, in.state)
	in.must("doctor")
}

// TestVersion: --version and version --json.
func TestVersion(t *testing.T) {
	in := newInstance(t)
	if out := in.must("--version"); !strings.HasPrefix(out, "gatehouse ") {
		t.Errorf("--version = %q", out)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(in.must("version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["version"] == "" || v["goVersion"] == "" {
		t.Errorf("version --json = %v", v)
	}
}

const sighup = syscall.SIGHUP

func sleepShort() { time.Sleep(20 * time.Millisecond) }

// TestSeedChannelSetup runs the seed guides' Phase 4 lines: enable the
// channel plugin, add the channel with its token, set its policies.
func TestSeedChannelSetup(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	const tok = "123456789:AAFakeTelegramBotTokenForTheTests000000"
	in.must("plugins", "enable", "telegram")
	in.must("channels", "add", "--channel", "telegram", "--token", tok)
	in.must("config", "set", "channels.telegram.dmPolicy", "pairing")
	in.must("config", "set", "channels.telegram.configWrites", "false")
	in.must("config", "set", "channels.telegram.groupPolicy", "disabled")
	var list struct {
		Channels []struct {
			Name, DMPolicy, GroupPolicy string
			Enabled                     bool
		} `json:"channels"`
	}
	if err := json.Unmarshal([]byte(in.must("channels", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Channels) != 1 || list.Channels[0].Name != "telegram" || list.Channels[0].DMPolicy != "pairing" || list.Channels[0].GroupPolicy != "disabled" {
		t.Errorf("channels list = %+v", list.Channels)
	}
	if out := in.must("plugins", "list"); !strings.Contains(out, "telegram  enabled") {
		t.Errorf("plugins list = %q", out)
	}
	if out := in.must("plugins", "enable", "google-gemini-cli-auth"); !strings.Contains(out, "models auth add") {
		t.Errorf("the seed's LLM auth plugin step = %q, want a pointer to models auth add", out)
	}
	if _, errs, code := in.run("plugins", "enable", "nosuch"); code == 0 || !strings.Contains(errs, "bundled plugins") {
		t.Errorf("unknown plugin: exit %d, %q", code, errs)
	}
	assertTokenConfined(t, in.state, tok)
	in.must("channels", "remove", "--channel", "telegram")
	if out := in.must("channels", "list"); !strings.Contains(out, "no channels") {
		t.Errorf("after remove: %q", out)
	}
}
