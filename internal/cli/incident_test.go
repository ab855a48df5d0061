package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/state"
)

func TestIncident_bundle_without_a_gateway(t *testing.T) {
	e, out, errb, root := onboarded(t)
	d := state.Dir{Root: root}
	const providerKey = "sk-ant-" + "incidentTestKey0123456789abcdefghij"
	const botToken = "123456789:AAIncidentTestBotToken0000000000000000"
	for _, kv := range [][]string{
		{"models.providers.anthropic.apiKey", providerKey, "--plaintext"},
		{"channels.telegram.token", botToken, "--plaintext"},
	} {
		if got := run(t, e, append([]string{"config", "set"}, kv...)...); got != 0 {
			t.Fatalf("config set: exit %d: %s", got, errb)
		}
	}
	oldTok := storedToken(t, root, tokenSecretName)
	now := time.Now().UTC()
	// A log with a line from before the window, lines inside it (one
	// carrying a secret the gateway failed to redact) and a rotated file.
	logLines := func(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }
	if err := os.WriteFile(d.Log()+".1", logLines(
		`{"time":"`+now.Add(-48*time.Hour).Format(time.RFC3339Nano)+`","level":"INFO","msg":"too old"}`,
		`{"time":"`+now.Add(-2*time.Hour).Format(time.RFC3339Nano)+`","level":"INFO","msg":"rotated, in the window"}`,
	), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Log(), logLines(
		`{"time":"`+now.Add(-time.Hour).Format(time.RFC3339Nano)+`","level":"WARN","msg":"leak `+botToken+`"}`,
		`not json`,
	), 0o600); err != nil {
		t.Fatal(err)
	}
	// An entry planted in the workspace: a symlink out, listed not followed.
	if err := os.Symlink("/etc", filepath.Join(root, "workspace", "etc")); err != nil {
		t.Fatal(err)
	}

	bundle := filepath.Join(t.TempDir(), "bundle")
	out.Reset()
	if got := run(t, e, "incident", "--out", bundle, "--json"); got != 0 {
		t.Fatalf("incident: exit %d\nstdout: %s\nstderr: %s", got, out, errb)
	}
	var rep incidentReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !rep.Contained() || rep.Bundle != bundle {
		t.Errorf("report = %+v, want contained, bundle %s", rep, bundle)
	}
	for _, a := range rep.Actions {
		if !a.OK {
			t.Errorf("action %s failed: %s", a.Action, a.Detail)
		}
	}

	// The bundle: 0700, every file 0600, nothing holding a secret.
	fi, err := os.Stat(bundle)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("bundle dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	want := []string{"access.json", "audit.json", "changed-files.json", "config.json", "incident.json", "logs.jsonl", "sessions.json", "soul.json"}
	entries, _ := os.ReadDir(bundle)
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
		info, _ := de.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %o, want 600", de.Name(), info.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(bundle, de.Name()))
		for _, s := range []string{providerKey, botToken, oldTok} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", de.Name())
			}
		}
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("bundle holds %v, want %v", names, want)
	}

	// The token is revoked.
	if storedToken(t, root, tokenSecretName) == oldTok {
		t.Errorf("the gateway token did not change")
	}

	// Logs: the window only, oldest first, redacted.
	logs, _ := os.ReadFile(filepath.Join(bundle, "logs.jsonl"))
	if strings.Contains(string(logs), "too old") || !strings.Contains(string(logs), "rotated, in the window") ||
		!strings.Contains(string(logs), "not json") || strings.Index(string(logs), "rotated") > strings.Index(string(logs), "leak") {
		t.Errorf("logs.jsonl =\n%s", logs)
	}

	// Changed files: the planted symlink, not what it points to.
	var cf changedFiles
	b, _ := os.ReadFile(filepath.Join(bundle, "changed-files.json"))
	if err := json.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	var sawLink bool
	for _, f := range cf.Files {
		if strings.HasPrefix(f.Path, "/etc/") {
			t.Errorf("followed the symlink: %s", f.Path)
		}
		if f.Path == filepath.Join(root, "workspace", "etc") {
			sawLink = f.Type == "symlink" && f.Target == "/etc"
		}
		if strings.HasPrefix(f.Path, bundle) {
			t.Errorf("listed the bundle itself: %s", f.Path)
		}
	}
	if !sawLink {
		t.Errorf("changed-files.json does not list the planted symlink: %s", b)
	}

	// What is left to the human names the provider and the channel.
	steps := strings.Join(rep.Steps, "\n")
	for _, want := range []string{"Rotate the anthropic API key", "gatehouse config set models.providers.anthropic.apiKey", "telegram bot token with @BotFather", "gatehouse pairing revoke"} {
		if !strings.Contains(steps, want) {
			t.Errorf("steps lack %q:\n%s", want, steps)
		}
	}
}

func TestIncident_refuses_a_used_bundle_dir(t *testing.T) {
	e, _, errb, root := onboarded(t)
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "evidence"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := storedToken(t, root, tokenSecretName)
	if got := run(t, e, "incident", "--out", bundle); got != exitError || !strings.Contains(errb.String(), "not empty") {
		t.Errorf("exit %d, stderr %q; want a refusal", got, errb)
	}
	if storedToken(t, root, tokenSecretName) != before {
		t.Errorf("the token was rotated although the bundle could not be written")
	}
}

func TestIncident_text_output(t *testing.T) {
	e, out, errb, _ := onboarded(t)
	if got := run(t, e, "incident", "--out", filepath.Join(t.TempDir(), "b")); got != 0 {
		t.Fatalf("exit %d: %s", got, errb)
	}
	for _, want := range []string{"incident bundle: ", "[done  ] no gateway was running", "[done  ] revoked the gateway token", "left to you:", "  1. "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{name: "hours", in: "24h", want: now.Add(-24 * time.Hour)},
		{name: "minutes", in: "90m", want: now.Add(-90 * time.Minute)},
		{name: "negative_is_back", in: "-2h", want: now.Add(-2 * time.Hour)},
		{name: "rfc3339", in: "2026-03-01T08:00:00Z", want: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSince(tt.in, now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Errorf("parseSince(yesterday) succeeded")
	}
}

func TestListChanged(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{"old.txt", "new.txt", "skip/inside.txt"} {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o700)
		if err := os.WriteFile(full, []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(root, "old.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	cf := listChanged([]string{root}, since, time.Now().Add(time.Hour), filepath.Join(root, "skip"), 100)
	var got []string
	for _, f := range cf.Files {
		got = append(got, strings.TrimPrefix(f.Path, root))
	}
	joined := strings.Join(got, " ")
	if !strings.Contains(joined, "/new.txt") || strings.Contains(joined, "inside.txt") {
		t.Errorf("listed %v, want new.txt and not the skipped dir", got)
	}
	// old.txt's mtime was set back, but its ctime is now: a backdated
	// file is still listed where the platform gives ctimes.
	if !changeTime(mustStat(t, filepath.Join(root, "old.txt"))).IsZero() && !strings.Contains(joined, "/old.txt") {
		t.Errorf("a file with a backdated mtime was not listed: %v", got)
	}
	if cf := listChanged([]string{root}, since, time.Now(), "", 1); !cf.Truncated || len(cf.Files) != 1 {
		t.Errorf("limit 1: %d files, truncated %v", len(cf.Files), cf.Truncated)
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
