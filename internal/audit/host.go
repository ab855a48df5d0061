package audit

import (
	"gatehouse/internal/service"
	"gatehouse/internal/state"

	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/sandbox"
)

// MaxUnitExposure is the `systemd-analyze security` exposure the unit
// gatehouse renders for a system install without the native sandbox
// reaches; units with the native sandbox (which needs namespaces and
// mounts) or for a user manager score higher, per [service.MaxExposure].
const MaxUnitExposure = 1.5

// unitMaxExposure is what the unit at path should score at most: by its
// manager (a user unit lives under ~/.config/systemd/user) and the sandbox
// its header names ("Sandbox: native.").
func unitMaxExposure(path string) float64 {
	mode := service.ModeSystem
	if strings.Contains(path, "/.config/systemd/user/") {
		mode = service.ModeUser
	}
	sb := service.SandboxNative
	if b, err := os.ReadFile(path); err == nil {
		for _, k := range []service.Sandbox{service.SandboxDocker, service.SandboxNone} {
			if strings.Contains(string(b), "Sandbox: "+string(k)) {
				sb = k
			}
		}
	}
	return service.MaxExposure(mode, sb)
}

// commandTimeout bounds each host command.
const commandTimeout = 10 * time.Second

// systemDirs are where host commands are looked up: never $PATH, which
// the caller controls.
func systemDirs() []string {
	return []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}
}

// findCommand looks name up in the system directories under root.
func findCommand(root, name string) (string, bool) {
	for _, d := range systemDirs() {
		p := filepath.Join(root, d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// runHostCommand runs a read-only command from the system directories with
// a timeout, a minimal environment and the C locale, and returns its
// standard output. Its error carries the first line of standard error.
func runHostCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, ok := findCommand("/", name)
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "LANG=C"}
	cmd.Stdin = nil
	var out, errb limitedBuffer
	out.max, errb.max = 1<<20, 4096
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(firstLine(errb.String()))
		if ctx.Err() != nil {
			msg = "timed out after " + commandTimeout.String()
		}
		if msg == "" {
			return out.Bytes(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return out.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// hostPath is p under the audit's host root.
func (a *auditor) hostPath(p string) string { return filepath.Join(a.root, p) }

func (a *auditor) exists(p string) bool {
	_, err := os.Stat(a.hostPath(p))
	return err == nil
}

// command runs a host command and reports, for skipping, why it could not.
func (a *auditor) command(ctx context.Context, name string, args ...string) (string, error) {
	out, err := a.run1(ctx, name, args...)
	return string(out), err
}

func (a *auditor) deepChecks(ctx context.Context, r *results, e *configEnv) {
	if t := a.findGateway(ctx, r, e); t != nil {
		a.probeRoutes(ctx, r, t)
		a.probeHost(ctx, r, t)
		a.probeWSOrigin(ctx, r, t)
		a.probeWSUnauth(ctx, r, t)
		a.probeLockout(ctx, r, t)
		a.checkListen(r, t)
		a.checkServiceUser(r, t)
	}
	a.checkSandboxLayers(ctx, r, e)
	a.checkFirewall(ctx, r)
	a.checkDockerUser(ctx, r)
	a.checkSystemd(ctx, r)
	a.checkTailscale(ctx, r)
}

// socket is one listening TCP socket from /proc/net/tcp{,6}.
type socket struct {
	addr  netip.AddrPort
	inode string
}

// parseProcNet reads the LISTEN sockets of a /proc/net/tcp or tcp6 file.
func parseProcNet(data []byte) []socket {
	var out []socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		hostHex, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(hostHex)
		port, perr := strconv.ParseUint(portHex, 16, 16)
		if err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
			continue
		}
		// The kernel prints each 32-bit word in host (little-endian) order.
		for i := 0; i+4 <= len(raw); i += 4 {
			raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
		}
		ip, _ := netip.AddrFromSlice(raw)
		out = append(out, socket{addr: netip.AddrPortFrom(ip.Unmap(), uint16(port)), inode: f[9]})
	}
	return out
}

// socketInodes lists the socket inodes process pid holds, or an error when
// its file descriptors cannot be read (another user's process).
func (a *auditor) socketInodes(pid int) (map[string]bool, error) {
	dir := a.hostPath(fmt.Sprintf("/proc/%d/fd", pid))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	return out, nil
}

// checkListen reads the gateway's listening sockets (what `ss -tlnp`
// shows) and reports any that is not on a loopback address.
func (a *auditor) checkListen(r *results, t *target) {
	cmd := fmt.Sprintf("ss -tlnp 'sport = :%d' (read from /proc/net/tcp and /proc/net/tcp6)", t.port)
	var socks []socket
	read := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(a.hostPath(f))
		if err != nil {
			continue
		}
		read++
		socks = append(socks, parseProcNet(b)...)
	}
	if read == 0 {
		r.skip(CheckListen, "/proc/net/tcp cannot be read on this host")
		return
	}
	var mine map[string]bool
	note := ""
	if t.pid > 0 {
		var err error
		if mine, err = a.socketInodes(t.pid); err != nil {
			note = fmt.Sprintf(" (pid %d's sockets cannot be read: %s; showing every listener on the port)", t.pid, state.ErrText(err))
			mine = nil
		}
	}
	var addrs, bad []string
	for _, s := range socks {
		if int(s.addr.Port()) != t.port || (mine != nil && !mine[s.inode]) {
			continue
		}
		addrs = append(addrs, s.addr.String())
		if !s.addr.Addr().IsLoopback() {
			bad = append(bad, s.addr.String())
		}
	}
	who := "the gateway"
	if t.pid > 0 {
		who = fmt.Sprintf("the gateway (pid %d)", t.pid)
	}
	r.evidence(CheckListen, cmd, strings.Join(addrs, ", ")+note)
	if len(addrs) == 0 {
		r.skip(CheckListen, fmt.Sprintf("no listening socket of %s on port %d was found%s", who, t.port, note))
		return
	}
	for _, b := range bad {
		where := b
		if ap, err := netip.ParseAddrPort(b); err == nil && ap.Addr().IsUnspecified() {
			where += " (every address of this host)"
		}
		r.add(Finding{CheckID: CheckListen, Subject: b, Severity: SeverityWarn,
			Detail:      fmt.Sprintf("%s listens on %s: it is reachable from the network unless the firewall stops it", who, where),
			Remediation: a.cmd + " config set gateway.bind loopback, then " + a.cmd + " gateway restart"})
	}
	if len(bad) == 0 {
		r.pass(CheckListen, "loopback only: "+strings.Join(addrs, ", "))
	}
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	name, home, shell string
	uid               int
}

func (a *auditor) lookupUID(uid int) (passwdEntry, bool) {
	b, err := os.ReadFile(a.hostPath("/etc/passwd"))
	if err != nil {
		return passwdEntry{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil && id == uid {
			return passwdEntry{name: f[0], uid: id, home: f[5], shell: f[6]}, true
		}
	}
	return passwdEntry{}, false
}

// processUID reads the effective uid of pid from /proc.
func (a *auditor) processUID(pid int) (int, error) {
	b, err := os.ReadFile(a.hostPath(fmt.Sprintf("/proc/%d/status", pid)))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return strconv.Atoi(f[1])
			}
		}
	}
	return 0, errors.New("no Uid line")
}

// checkServiceUser reports the user the gateway runs as: root is a
// warning, a login user a note; the seeds run it as a dedicated locked
// system user.
func (a *auditor) checkServiceUser(r *results, t *target) {
	if t.pid <= 0 {
		r.skip(CheckServiceUser, "the gateway's pid is unknown (its lock file cannot be read)")
		return
	}
	uid, err := a.processUID(t.pid)
	if err != nil {
		r.skip(CheckServiceUser, fmt.Sprintf("cannot read /proc/%d/status: %s", t.pid, state.ErrText(err)))
		return
	}
	u, ok := a.lookupUID(uid)
	name := strconv.Itoa(uid)
	if ok {
		name = fmt.Sprintf("%s (uid %d)", u.name, uid)
	}
	r.evidence(CheckServiceUser, fmt.Sprintf("ps -o user= -p %d", t.pid), name)
	remedy := "sudo " + a.cmd + " service install --system (a dedicated, locked system user runs it)"
	switch {
	case uid == 0:
		r.add(Finding{CheckID: CheckServiceUser, Subject: "uid 0", Severity: SeverityWarn,
			Detail:      fmt.Sprintf("the gateway (pid %d) runs as root: a sandbox escape or a bug in it owns the host", t.pid),
			Remediation: remedy})
	case ok && (strings.HasPrefix(u.name, "gatehouse") || uid < 1000 && (strings.HasSuffix(u.shell, "nologin") || strings.HasSuffix(u.shell, "/false"))):
		r.pass(CheckServiceUser, "runs as dedicated user "+name)
	default:
		r.add(Finding{CheckID: CheckServiceUser, Subject: "uid " + strconv.Itoa(uid), Severity: SeverityInfo,
			Detail:      fmt.Sprintf("the gateway (pid %d) runs as %s, a login user: everything that user can reach, the gateway can too", t.pid, name),
			Remediation: remedy})
	}
}

func (a *auditor) checkSandboxLayers(ctx context.Context, r *results, e *configEnv) {
	switch {
	case e == nil:
		r.skip(CheckSandboxLayers, "the config could not be read")
		return
	case e.cfg.Agents.Defaults.Sandbox.Mode == "off":
		r.skip(CheckSandboxLayers, "the sandbox is off")
		return
	case a.opts.SandboxLayers == nil:
		r.skip(CheckSandboxLayers, "this caller does not probe the sandbox: run gatehouse sandbox status")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	layers, err := a.opts.SandboxLayers(ctx)
	if err != nil {
		r.add(Finding{CheckID: CheckSandboxLayers, Subject: "sandbox", Severity: SeverityWarn,
			Detail: "the sandbox cannot start, so sandboxed tools fail (closed): " + err.Error(), Remediation: a.cmd + " sandbox status"})
		return
	}
	var on []string
	for _, l := range layers {
		switch l.State {
		case sandbox.LayerMissing:
			r.add(Finding{CheckID: CheckSandboxLayers, Subject: "sandbox.layers." + l.Name, Severity: SeverityWarn,
				Detail:      fmt.Sprintf("layer %s cannot be applied on this host (%s): the sandbox refuses to run without it", l.Name, l.Detail),
				Remediation: a.cmd + " sandbox status"})
		case sandbox.LayerOn:
			on = append(on, l.Name)
		}
	}
	r.pass(CheckSandboxLayers, "on: "+strings.Join(on, ", "))
}

// firewallVerdict is what one firewall tool says about incoming traffic.
type firewallVerdict struct {
	deny     bool
	evidence string
}

var ufwDefault = regexp.MustCompile(`(?m)^Default:\s*(deny|reject|allow) \(incoming\)`)

// parseUFW reads `ufw status verbose`.
func parseUFW(out string) firewallVerdict {
	active := strings.Contains(out, "Status: active")
	m := ufwDefault.FindStringSubmatch(out)
	v := firewallVerdict{evidence: firstLine(out)}
	if m != nil {
		v.evidence += "; " + strings.TrimSpace(m[0])
	}
	v.deny = active && m != nil && m[1] != "allow"
	return v
}

// parseNFT reads `nft list ruleset`: incoming traffic is denied by default
// for a family when one of its chains hooked on input has policy drop, or
// ends with an unconditional drop or reject.
func parseNFT(out string) (v4, v6 firewallVerdict) {
	var family, chain string
	var input bool
	var policy, last string
	var ev []string
	end := func() {
		if !input {
			return
		}
		deny := policy == "drop" || unconditionalDrop(last)
		what := fmt.Sprintf("table %s chain %s: hook input, policy %s", family, chain, cmpOr(policy, "accept"))
		ev = append(ev, what)
		if deny {
			switch family {
			case "inet":
				v4.deny, v6.deny = true, true
			case "ip":
				v4.deny = true
			case "ip6":
				v6.deny = true
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "table "):
			f := strings.Fields(line)
			if len(f) >= 3 {
				family = f[1]
			}
		case strings.HasPrefix(line, "chain "):
			f := strings.Fields(line)
			if len(f) >= 2 {
				chain = f[1]
			}
			input, policy, last = false, "", ""
		case strings.HasPrefix(line, "type ") && strings.Contains(line, " hook input "):
			input = true
			if i := strings.Index(line, "policy "); i >= 0 {
				policy = strings.TrimSuffix(strings.Fields(line[i+len("policy "):])[0], ";")
			}
		case line == "}":
			if chain != "" {
				end()
				chain, input = "", false
			}
		case line != "" && chain != "":
			last = line
		}
	}
	if len(ev) == 0 {
		ev = append(ev, "no chain hooks input")
	}
	v4.evidence = strings.Join(ev, "; ")
	v6.evidence = v4.evidence
	return v4, v6
}

// unconditionalDrop reports an nft rule that drops or rejects everything.
func unconditionalDrop(rule string) bool {
	f := strings.Fields(rule)
	var rest []string
	for i := 0; i < len(f); i++ {
		if f[i] == "counter" {
			if i+4 < len(f) && f[i+1] == "packets" {
				i += 4 // counter packets N bytes M
			}
			continue
		}
		rest = append(rest, f[i])
	}
	return len(rest) >= 1 && (rest[0] == "drop" || rest[0] == "reject")
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parseIptables reads `iptables -S INPUT`.
func parseIptables(out, chain string) firewallVerdict {
	v := firewallVerdict{}
	var lastRule string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-P "+chain+" "):
			v.evidence = line
			p := strings.TrimPrefix(line, "-P "+chain+" ")
			v.deny = p == "DROP" || p == "REJECT"
		case strings.HasPrefix(line, "-A "+chain+" "):
			lastRule = line
		}
	}
	if lastRule == "-A "+chain+" -j DROP" || strings.HasPrefix(lastRule, "-A "+chain+" -j REJECT") {
		v.deny = true
		v.evidence = strings.TrimSpace(v.evidence + "; last rule: " + lastRule)
	}
	return v
}

// checkFirewall asks ufw, then nft, then iptables whether incoming
// connections are denied by default, as the seeds' `ufw default deny
// incoming` makes them.
func (a *auditor) checkFirewall(ctx context.Context, r *results) {
	var ran, cannot []string
	var cmds []string
	pass := func(cmd string, v firewallVerdict) {
		r.evidence(CheckFirewall, cmd, v.evidence)
		r.pass(CheckFirewall, "incoming denied by default ("+v.evidence+")")
	}
	tool := func(name string, args ...string) (string, bool) {
		cmd := strings.TrimSpace(name + " " + strings.Join(args, " "))
		out, err := a.command(ctx, name, args...)
		if err != nil {
			if errors.Is(err, ErrNotInstalled) {
				cannot = append(cannot, name+" not installed")
			} else {
				cannot = append(cannot, err.Error())
			}
			return "", false
		}
		cmds = append(cmds, cmd)
		return out, true
	}
	if out, ok := tool("ufw", "status", "verbose"); ok {
		v := parseUFW(out)
		if v.deny {
			pass("ufw status verbose", v)
			return
		}
		ran = append(ran, "ufw: "+v.evidence)
	}
	if out, ok := tool("nft", "list", "ruleset"); ok {
		v4, v6 := parseNFT(out)
		if v4.deny {
			if !v6.deny {
				v4.evidence += " (IPv6 is not denied)"
			}
			pass("nft list ruleset", v4)
			return
		}
		ran = append(ran, "nft: "+v4.evidence)
	}
	if out, ok := tool("iptables", "-S", "INPUT"); ok {
		v := parseIptables(out, "INPUT")
		if v.deny {
			pass("iptables -S INPUT", v)
			return
		}
		ran = append(ran, "iptables: "+cmpOr(v.evidence, "no INPUT policy"))
	}
	if len(ran) == 0 {
		r.skip(CheckFirewall, "no firewall tool could be read: "+strings.Join(cannot, "; ")+" (reading the firewall needs root: sudo)")
		return
	}
	r.evidence(CheckFirewall, strings.Join(cmds, "; "), strings.Join(ran, "; "))
	r.add(Finding{CheckID: CheckFirewall, Subject: "incoming", Severity: SeverityWarn,
		Detail:      "incoming connections are not denied by default: " + strings.Join(ran, "; "),
		Remediation: "sudo ufw default deny incoming && sudo ufw allow in on tailscale0 && sudo ufw enable (keep your SSH path open first: see the seed guide 1.5)"})
}

// dockerEngine reports whether a Docker engine is installed here, and how
// the audit knows.
func (a *auditor) dockerEngine() (bool, string) {
	for _, s := range []string{"/var/run/docker.sock", "/run/docker.sock"} {
		if a.exists(s) {
			return true, s + " exists"
		}
	}
	if p, ok := findCommand(a.root, "dockerd"); ok {
		return true, p + " is installed"
	}
	return false, ""
}

// checkDockerUser checks that the DOCKER-USER chain ends in DROP, without
// which ports Docker publishes bypass the host firewall.
func (a *auditor) checkDockerUser(ctx context.Context, r *results) {
	engine, why := a.dockerEngine()
	if !engine {
		r.skip(CheckDockerUser, "no Docker engine on this host (no dockerd, no /var/run/docker.sock); the docker CLI alone publishes no ports")
		return
	}
	out, err := a.command(ctx, "iptables", "-S", "DOCKER-USER")
	cmd := "iptables -S DOCKER-USER"
	if err != nil && !errors.Is(err, ErrNotInstalled) && strings.Contains(err.Error(), "nft") {
		out, err = a.command(ctx, "nft", "list", "chain", "ip", "filter", "DOCKER-USER")
		cmd = "nft list chain ip filter DOCKER-USER"
		if err == nil {
			last := ""
			for _, l := range strings.Split(out, "\n") {
				if l = strings.TrimSpace(l); l != "" && l != "}" && !strings.HasPrefix(l, "table") && !strings.HasPrefix(l, "chain") {
					last = l
				}
			}
			out = "-A DOCKER-USER -j ACCEPT"
			if unconditionalDrop(last) {
				out = "-A DOCKER-USER -j DROP"
			}
		}
	}
	switch {
	case errors.Is(err, ErrNotInstalled):
		r.skip(CheckDockerUser, "a Docker engine is installed ("+why+") but iptables is not")
		return
	case err != nil && strings.Contains(err.Error(), "No chain"):
		r.evidence(CheckDockerUser, cmd, err.Error())
		r.add(Finding{CheckID: CheckDockerUser, Subject: "DOCKER-USER", Severity: SeverityWarn,
			Detail:      "a Docker engine is installed (" + why + ") but there is no DOCKER-USER chain (is the engine running?); once it runs, published ports bypass the firewall unless the chain ends in DROP",
			Remediation: "sudo iptables -A DOCKER-USER -j DROP after the ACCEPT rules for lo and tailscale0 (seed guide 1.6)"})
		return
	case err != nil:
		r.skip(CheckDockerUser, "cannot read the DOCKER-USER chain: "+err.Error()+" (needs root: sudo)")
		return
	}
	last := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "-A DOCKER-USER") {
			last = strings.TrimSpace(l)
		}
	}
	r.evidence(CheckDockerUser, cmd, cmpOr(last, "no rules"))
	if last == "-A DOCKER-USER -j DROP" {
		r.pass(CheckDockerUser, "ends in DROP")
		return
	}
	r.add(Finding{CheckID: CheckDockerUser, Subject: "DOCKER-USER", Severity: SeverityWarn,
		Detail:      fmt.Sprintf("the DOCKER-USER chain ends with %q, not a DROP: ports Docker publishes bypass the host firewall", cmpOr(last, "no rule at all")),
		Remediation: "sudo iptables -A DOCKER-USER -j DROP after the ACCEPT rules for lo and tailscale0 (seed guide 1.6)"})
}

// unitFiles finds installed gatehouse units, system and per-user.
func (a *auditor) unitFiles() []string {
	var out []string
	seen := map[string]bool{}
	dirs := []string{a.hostPath("/etc/systemd/system"), a.hostPath("/usr/lib/systemd/system"), a.hostPath("/lib/systemd/system")}
	if a.home != "" {
		dirs = append(dirs, filepath.Join(a.home, ".config/systemd/user"))
	}
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "gatehouse*.service"))
		for _, p := range m {
			real, err := filepath.EvalSymlinks(p)
			if err != nil || seen[real] {
				continue
			}
			if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			seen[real] = true
			out = append(out, p)
		}
	}
	return out
}

var exposureLine = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+(?:\.[0-9]+)?) (\S+)`)

// parseExposure reads the overall exposure from systemd-analyze security.
func parseExposure(out string) (float64, string, bool) {
	m := exposureLine.FindStringSubmatch(out)
	if m == nil {
		return 0, "", false
	}
	v, err := strconv.ParseFloat(m[2], 64)
	return v, m[2] + " " + m[3], err == nil
}

func (a *auditor) checkSystemd(ctx context.Context, r *results) {
	units := a.unitFiles()
	if len(units) == 0 {
		reason := "no gatehouse unit is installed (" + a.cmd + " service install)"
		r.skip(CheckSystemdScore, reason)
		r.skip(CheckSystemdActive, reason)
		return
	}
	var scores []string
	for _, u := range units {
		cmd := "systemd-analyze security --offline=true " + u
		out, err := a.command(ctx, "systemd-analyze", "security", "--offline=true", u)
		score, text, ok := parseExposure(out)
		switch {
		case errors.Is(err, ErrNotInstalled):
			r.skip(CheckSystemdScore, "systemd-analyze not installed")
			continue
		case !ok && err != nil:
			r.skip(CheckSystemdScore, "systemd-analyze failed on "+u+": "+err.Error())
			continue
		case !ok:
			r.skip(CheckSystemdScore, "systemd-analyze printed no overall exposure for "+u)
			continue
		}
		r.evidence(CheckSystemdScore, cmd, "exposure "+text)
		scores = append(scores, filepath.Base(u)+" "+text)
		if max := unitMaxExposure(u); score > max {
			r.add(Finding{CheckID: CheckSystemdScore, Subject: u, Severity: SeverityWarn,
				Detail:      fmt.Sprintf("%s scores %s under systemd-analyze security; the unit gatehouse renders for it scores %.1f or less (the seed's hand-written unit: 5.8)", u, text, max),
				Remediation: "sudo " + a.cmd + " service install --system"})
		}
	}
	if len(scores) > 0 {
		r.pass(CheckSystemdScore, strings.Join(scores, ", "))
	}

	if !a.exists("/run/systemd/system") {
		r.skip(CheckSystemdActive, "systemd is not running as PID 1 on this host (no /run/systemd/system)")
		return
	}
	var states []string
	for _, u := range units {
		name := filepath.Base(u)
		args := []string{"is-active", name}
		if strings.Contains(u, "/.config/systemd/user/") {
			if os.Geteuid() == 0 {
				continue // a user unit: root cannot ask that user's manager
			}
			args = []string{"--user", "is-active", name}
		}
		out, err := a.command(ctx, "systemctl", args...)
		st := strings.TrimSpace(out)
		if st == "" {
			if err != nil {
				r.skip(CheckSystemdActive, "systemctl "+strings.Join(args, " ")+": "+err.Error())
				return
			}
			st = "unknown"
		}
		states = append(states, name+" "+st)
		r.evidence(CheckSystemdActive, "systemctl "+strings.Join(args, " "), strings.Join(states, ", "))
		if st != "active" {
			r.add(Finding{CheckID: CheckSystemdActive, Subject: name, Severity: SeverityInfo,
				Detail: fmt.Sprintf("%s is %s", name, st), Remediation: "sudo systemctl enable --now " + name})
		}
	}
	if len(states) == 0 {
		r.skip(CheckSystemdActive, "only per-user units are installed, which root cannot query")
		return
	}
	r.pass(CheckSystemdActive, strings.Join(states, ", "))
}

// checkTailscale reads `tailscale funnel status`: a funnel publishes a
// service on this host to the whole internet.
func (a *auditor) checkTailscale(ctx context.Context, r *results) {
	out, err := a.command(ctx, "tailscale", "funnel", "status")
	switch {
	case errors.Is(err, ErrNotInstalled):
		r.skip(CheckTailscaleFunnel, "tailscale not installed")
		return
	case err != nil && !strings.Contains(out, "No serve config"):
		r.skip(CheckTailscaleFunnel, "tailscale funnel status failed: "+err.Error())
		return
	}
	r.evidence(CheckTailscaleFunnel, "tailscale funnel status", strings.TrimSpace(out))
	var funnels []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Funnel on") {
			funnels = append(funnels, strings.TrimSpace(l))
		}
	}
	if len(funnels) == 0 {
		r.pass(CheckTailscaleFunnel, "no funnels")
		return
	}
	for _, f := range funnels {
		r.add(Finding{CheckID: CheckTailscaleFunnel, Subject: f, Severity: SeverityCritical,
			Detail:      f + ": Tailscale Funnel publishes this to the internet; the seed guides require Funnel off",
			Remediation: "tailscale funnel reset (or tailscale funnel off for that port)"})
	}
}
