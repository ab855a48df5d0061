package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/state"
)

func TestParseUFW(t *testing.T) {
	cases := []struct {
		name string
		out  string
		deny bool
	}{
		{"active_deny", "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), deny (routed)\nNew profiles: skip\n\nTo Action From\n", true},
		{"active_reject", "Status: active\nDefault: reject (incoming), allow (outgoing), disabled (routed)\n", true},
		{"active_allow", "Status: active\nDefault: allow (incoming), allow (outgoing), disabled (routed)\n", false},
		{"inactive", "Status: inactive\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parseUFW(c.out); got.deny != c.deny {
				t.Errorf("deny = %v, want %v (%q)", got.deny, c.deny, got.evidence)
			}
		})
	}
}

func TestParseNFT(t *testing.T) {
	cases := []struct {
		name   string
		out    string
		v4, v6 bool
	}{
		{"inet_policy_drop", `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "lo" accept
		iifname "tailscale0" accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}`, true, true},
		{"ip_final_drop", `table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		iifname "lo" counter packets 3 bytes 180 accept
		counter packets 12 bytes 900 drop
	}
}`, true, false},
		{"no_input_hook", `table ip nat {
	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
	}
}`, false, false},
		{"input_accept", `table ip6 filter {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 22 drop
	}
}`, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v4, v6 := parseNFT(c.out)
			if v4.deny != c.v4 || v6.deny != c.v6 {
				t.Errorf("deny v4 %v v6 %v, want %v %v (%q)", v4.deny, v6.deny, c.v4, c.v6, v4.evidence)
			}
		})
	}
}

func TestParseIptables(t *testing.T) {
	cases := []struct {
		name, out string
		deny      bool
	}{
		{"policy_drop", "-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n", true},
		{"final_drop", "-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT -j DROP\n", true},
		{"accept", "-P INPUT ACCEPT\n", false},
		{"conditional_drop", "-P INPUT ACCEPT\n-A INPUT -p tcp --dport 22 -j DROP\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parseIptables(c.out, "INPUT"); got.deny != c.deny {
				t.Errorf("deny = %v, want %v", got.deny, c.deny)
			}
		})
	}
}

func TestParseExposure(t *testing.T) {
	out := "  NAME                 DESCRIPTION     EXPOSURE\n✗ UMask=  Files created by service are world-readable by default  0.1\n\n→ Overall exposure level for gatehouse.service: 1.2 OK 🙂\n"
	v, text, ok := parseExposure(out)
	if !ok || v != 1.2 || text != "1.2 OK" {
		t.Errorf("parseExposure = %v %q %v", v, text, ok)
	}
	if _, _, ok := parseExposure("Unit gatehouse.service not found."); ok {
		t.Error("parsed an exposure from an error")
	}
}

func TestParseProcNet(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 00000000:4966 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:4965 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:4965 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:4967 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0
`
	var got []string
	for _, s := range append(parseProcNet([]byte(tcp)), parseProcNet([]byte(tcp6))...) {
		got = append(got, s.addr.String()+"#"+s.inode)
	}
	want := "127.0.0.1:18789#1111 0.0.0.0:18790#2222 [::1]:18789#4444 [::]:18791#5555"
	if strings.Join(got, " ") != want {
		t.Errorf("sockets = %v, want %s", got, want)
	}
}

// hostRoot builds a fake host root from files (path → content).
func hostRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func hostAuditor(t *testing.T, root string, h fakeHost) *auditor {
	return newAuditor(Options{StateDir: testDir(t), HostRoot: root, Home: filepath.Join(root, "home"), Run: h.run})
}

func testDir(t *testing.T) state.Dir { return state.Dir{Root: t.TempDir()} }

func TestCheckFirewall(t *testing.T) {
	denied := errors.New("exit status 1: You need to be root to run this script")
	cases := []struct {
		name   string
		host   fakeHost
		status Status
		want   string
	}{
		{"ufw_active", fakeHost{"ufw status verbose": {out: "Status: active\nDefault: deny (incoming), allow (outgoing), deny (routed)\n"}}, StatusPass, "deny (incoming)"},
		{"nft_after_inactive_ufw", fakeHost{
			"ufw status verbose": {out: "Status: inactive\n"},
			"nft list ruleset":   {out: "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n"},
		}, StatusPass, "policy drop"},
		{"iptables_accept", fakeHost{"iptables -S INPUT": {out: "-P INPUT ACCEPT\n"}}, StatusFail, "-P INPUT ACCEPT"},
		{"nothing_installed", fakeHost{}, StatusSkip, "ufw not installed; nft not installed; iptables not installed"},
		{"not_root", fakeHost{"ufw status verbose": {err: denied}, "iptables -S INPUT": {err: errors.New("Permission denied (you must be root)")}}, StatusSkip, "needs root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := hostAuditor(t, t.TempDir(), c.host)
			r := newResults()
			a.checkFirewall(context.Background(), r)
			got := r.checks[CheckFirewall]
			text := got.Reason + " " + got.Evidence
			for _, f := range r.findings {
				text += " " + f.Detail
			}
			if got.Status != c.status || !strings.Contains(text, c.want) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, text, c.status, c.want)
			}
		})
	}
}

func TestCheckDockerUser(t *testing.T) {
	engine := map[string]string{"var/run/docker.sock": ""}
	cases := []struct {
		name   string
		files  map[string]string
		host   fakeHost
		status Status
	}{
		{"no_engine", nil, fakeHost{}, StatusSkip},
		{"ends_in_drop", engine, fakeHost{"iptables -S DOCKER-USER": {out: "-N DOCKER-USER\n-A DOCKER-USER -i lo -j ACCEPT\n-A DOCKER-USER -i tailscale0 -j ACCEPT\n-A DOCKER-USER -j DROP\n"}}, StatusPass},
		{"returns", engine, fakeHost{"iptables -S DOCKER-USER": {out: "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n"}}, StatusFail},
		{"no_chain", engine, fakeHost{"iptables -S DOCKER-USER": {err: errors.New("iptables: No chain/target/match by that name.")}}, StatusFail},
		{"nft_backend", engine, fakeHost{
			"iptables -S DOCKER-USER":              {err: errors.New("chain `DOCKER-USER' in table `filter' is incompatible, use 'nft' tool.")},
			"nft list chain ip filter DOCKER-USER": {out: "table ip filter {\n\tchain DOCKER-USER {\n\t\tiifname \"lo\" accept\n\t\tcounter packets 0 bytes 0 drop\n\t}\n}\n"},
		}, StatusPass},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := hostAuditor(t, hostRoot(t, c.files), c.host)
			r := newResults()
			a.checkDockerUser(context.Background(), r)
			if got := r.checks[CheckDockerUser]; got.Status != c.status {
				t.Errorf("status %s (%q), want %s", got.Status, got.Reason, c.status)
			}
		})
	}
}

func TestCheckSystemd(t *testing.T) {
	root := hostRoot(t, map[string]string{"etc/systemd/system/gatehouse.service": "[Service]\nExecStart=/usr/local/bin/gatehouse gateway run\n"})
	unit := filepath.Join(root, "etc/systemd/system/gatehouse.service")
	for _, c := range []struct {
		name   string
		score  string
		status Status
	}{
		{"hardened", "1.2 OK 🙂", StatusPass},
		{"seed_unit", "5.8 MEDIUM 😐", StatusFail},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := hostAuditor(t, root, fakeHost{"systemd-analyze security --offline=true " + unit: {out: "→ Overall exposure level for gatehouse.service: " + c.score + "\n"}})
			r := newResults()
			a.checkSystemd(context.Background(), r)
			if got := r.checks[CheckSystemdScore]; got.Status != c.status || !strings.Contains(got.Evidence, strings.Fields(c.score)[0]) {
				t.Errorf("score: %+v, want %s", got, c.status)
			}
			if got := r.checks[CheckSystemdActive]; got.Status != StatusSkip || !strings.Contains(got.Reason, "PID 1") {
				t.Errorf("active without systemd: %+v", got)
			}
		})
	}
	t.Run("active", func(t *testing.T) {
		root := hostRoot(t, map[string]string{"etc/systemd/system/gatehouse.service": "[Service]\n", "run/systemd/system/.keep": ""})
		unit := filepath.Join(root, "etc/systemd/system/gatehouse.service")
		a := hostAuditor(t, root, fakeHost{
			"systemd-analyze security --offline=true " + unit: {out: "Overall exposure level for gatehouse.service: 1.1 OK\n"},
			"systemctl is-active gatehouse.service":           {out: "inactive\n", err: errors.New("exit status 3")},
		})
		r := newResults()
		a.checkSystemd(context.Background(), r)
		if got := r.checks[CheckSystemdActive]; got.Status != StatusFail || got.Severity != SeverityInfo {
			t.Errorf("inactive unit: %+v", got)
		}
	})
	t.Run("no_unit", func(t *testing.T) {
		a := hostAuditor(t, t.TempDir(), fakeHost{})
		r := newResults()
		a.checkSystemd(context.Background(), r)
		if got := r.checks[CheckSystemdScore]; got.Status != StatusSkip || !strings.Contains(got.Reason, "service install") {
			t.Errorf("no unit: %+v", got)
		}
	})
}

func TestCheckTailscale(t *testing.T) {
	cases := []struct {
		name   string
		host   fakeHost
		status Status
		sev    Severity
	}{
		{"not_installed", fakeHost{}, StatusSkip, ""},
		{"no_serve_config", fakeHost{"tailscale funnel status": {out: "No serve config\n"}}, StatusPass, ""},
		{"serve_only", fakeHost{"tailscale funnel status": {out: "https://host.tailnet.ts.net (tailnet only)\n|-- / proxy http://127.0.0.1:18789\n"}}, StatusPass, ""},
		{"funnel_on", fakeHost{"tailscale funnel status": {out: "# Funnel on:\n#     - https://host.tailnet.ts.net\n\nhttps://host.tailnet.ts.net (Funnel on)\n|-- / proxy http://127.0.0.1:18789\n"}}, StatusFail, SeverityCritical},
		{"daemon_down", fakeHost{"tailscale funnel status": {err: errors.New("failed to connect to local tailscaled")}}, StatusSkip, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := hostAuditor(t, t.TempDir(), c.host)
			r := newResults()
			a.checkTailscale(context.Background(), r)
			got := r.checks[CheckTailscaleFunnel]
			if got.Status != c.status || got.Severity != c.sev {
				t.Errorf("got %+v, want %s %s", got, c.status, c.sev)
			}
		})
	}
}

func TestCheckServiceUser(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\ngatehouse:x:998:998::/var/lib/gatehouse:/usr/sbin/nologin\n"
	for _, c := range []struct {
		name string
		uid  int
		sev  Severity
	}{
		{"root", 0, SeverityWarn},
		{"login_user", 1000, SeverityInfo},
		{"dedicated", 998, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := hostRoot(t, map[string]string{
				"etc/passwd":     passwd,
				"proc/77/status": fmt.Sprintf("Name:\tgatehouse\nUid:\t%d\t%d\t%d\t%d\n", c.uid, c.uid, c.uid, c.uid),
			})
			a := hostAuditor(t, root, fakeHost{})
			r := newResults()
			a.checkServiceUser(r, &target{pid: 77})
			if got := r.checks[CheckServiceUser]; got.Severity != c.sev {
				t.Errorf("got %+v, want severity %q", got, c.sev)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	tcp := "  sl  local_address rem_address   st\n" +
		"   0: 00000000:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1\n" +
		"   1: 0100007F:4966 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1\n"
	root := hostRoot(t, map[string]string{"proc/net/tcp": tcp})
	a := hostAuditor(t, root, fakeHost{})
	r := newResults()
	a.checkListen(r, &target{port: 18789})
	if got := r.checks[CheckListen]; got.Status != StatusFail || !strings.Contains(r.findings[0].Subject, "0.0.0.0:18789") {
		t.Errorf("lan listener: %+v %+v", got, r.findings)
	}
	r = newResults()
	a.checkListen(r, &target{port: 18790})
	if got := r.checks[CheckListen]; got.Status != StatusPass {
		t.Errorf("loopback listener: %+v", got)
	}
}

// TestRunHostCommand runs a real, harmless command from the system
// directories, and one that does not exist.
func TestRunHostCommand(t *testing.T) {
	if _, ok := findCommand("/", "true"); !ok {
		t.Skip("no true(1) in the system directories")
	}
	if _, err := runHostCommand(context.Background(), "true"); err != nil {
		t.Errorf("true: %v", err)
	}
	if _, err := runHostCommand(context.Background(), "gatehouse-no-such-command"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("missing command: %v, want ErrNotInstalled", err)
	}
}
