package tool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
)

// elevatedExec returns an exec tool with the sandbox off and elevated
// execution on for telegram sender 42, and the approval requests it made.
func elevatedExec(t *testing.T, ws string) (*ExecTool, chan ApprovalRequest, *Approvals) {
	reqs := make(chan ApprovalRequest, 8)
	ap := NewApprovals(func(_ context.Context, r ApprovalRequest) { reqs <- r })
	tl := NewExec(ExecOptions{
		Limits:    sandbox.Limits{Timeout: 10 * time.Second},
		Elevated:  config.ToolsElevated{Enabled: true, AllowFrom: map[string][]string{"telegram": {"42"}}, ApprovalTimeoutSeconds: 30},
		Approvals: ap,
		Workspace: ws,
	})
	return tl, reqs, ap
}

var owner42 = Call{SessionKey: "s", Channel: "telegram", SenderID: "42", Owner: true}

func TestExecElevatedOffAndSenders(t *testing.T) {
	ws := t.TempDir()
	off := NewExec(ExecOptions{Workspace: ws})
	if r := runTool(t, off, owner42, map[string]any{"command": "true", "elevated": true}); !r.IsError || !strings.Contains(r.Text, "off") {
		t.Errorf("elevated while disabled: %+v", r)
	}
	if r := runTool(t, off, owner42, map[string]any{"command": "true"}); !r.IsError {
		t.Errorf("sandbox off and elevated off ran a command: %+v", r)
	}
	tl, reqs, _ := elevatedExec(t, ws)
	for _, c := range []Call{
		{SessionKey: "s", Channel: "telegram", SenderID: "43"},
		{SessionKey: "s", Channel: "discord", SenderID: "42"},
		{SessionKey: "s", Channel: "telegram"},
	} {
		if r := runTool(t, tl, c, map[string]any{"argv": []string{"true"}}); !r.IsError || !strings.Contains(r.Text, "not allowed") {
			t.Errorf("sender %+v: %+v", c, r)
		}
	}
	if len(reqs) != 0 {
		t.Errorf("a refused sender reached the owner: %d requests", len(reqs))
	}
	if r := runTool(t, tl, owner42, map[string]any{"argv": []string{"true"}, "env": map[string]string{"LD_PRELOAD": "/tmp/x.so"}}); !r.IsError {
		t.Errorf("elevated with env: %+v", r)
	}
}

// TestElevatedApprovalBoundToArgv: approving one command never runs
// another. Two commands wait; the owner approves the harmless one; the
// other stays pending, cannot be approved with the first's digest, and
// runs nothing when denied.
func TestElevatedApprovalBoundToArgv(t *testing.T) {
	ws := t.TempDir()
	must(t, os.WriteFile(filepath.Join(ws, "hello.txt"), []byte("hi"), 0o600))
	tl, reqs, ap := elevatedExec(t, ws)
	type out struct {
		r   Result
		err error
	}
	run := func(args string) chan out {
		ch := make(chan out, 1)
		go func() {
			c := owner42
			c.Args = []byte(args)
			r, err := tl.Run(t.Context(), c)
			ch <- out{r, err}
		}()
		return ch
	}
	lsDone := run(`{"argv":["ls"]}`)
	a := <-reqs
	evilDone := run(`{"command":"echo pwned > pwned.txt"}`)
	b := <-reqs
	if a.Executable == "" || !filepath.IsAbs(a.Executable) || a.Dir == "" || a.Digest == b.Digest {
		t.Fatalf("requests: %+v %+v", a, b)
	}
	if b.Argv[0] != "/bin/sh" || !strings.Contains(b.Argv[2], "pwned") {
		t.Fatalf("second request: %+v", b)
	}
	// The evil command cannot ride on the harmless one's digest.
	if _, err := ap.Decide(b.ID, a.Digest[:16], true); err == nil {
		t.Fatal("approval with another command's digest accepted")
	}
	if _, err := ap.Decide(a.ID, a.Digest[:16], true); err != nil {
		t.Fatal(err)
	}
	o := <-lsDone
	if o.err != nil || o.r.IsError || !strings.Contains(o.r.Text, "hello.txt") {
		t.Fatalf("approved ls: %+v %v", o.r, o.err)
	}
	// The first approval is spent.
	if _, err := ap.Decide(a.ID, "", true); err == nil {
		t.Error("a spent approval was accepted again")
	}
	select {
	case o := <-evilDone:
		t.Fatalf("the unapproved command finished: %+v", o.r)
	case <-time.After(200 * time.Millisecond):
	}
	if got := ap.List(); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("pending = %+v", got)
	}
	if _, err := ap.Decide(b.ID, "", false); err != nil {
		t.Fatal(err)
	}
	o = <-evilDone
	if !o.r.IsError || !strings.Contains(o.r.Text, "denied") {
		t.Errorf("denied command: %+v", o.r)
	}
	if _, err := os.Stat(filepath.Join(ws, "pwned.txt")); err == nil {
		t.Error("the denied command ran")
	}
}

func TestElevatedExpiresAndKillsGroup(t *testing.T) {
	ws := t.TempDir()
	tl, reqs, ap := elevatedExec(t, ws)
	tl.o.Elevated.ApprovalTimeoutSeconds = 1
	if r := runTool(t, tl, owner42, map[string]any{"argv": []string{"true"}}); !r.IsError || !strings.Contains(r.Text, "in time") {
		t.Errorf("expired: %+v", r)
	}
	<-reqs
	tl.o.Elevated.ApprovalTimeoutSeconds = 30
	done := make(chan Result, 1)
	go func() {
		done <- runTool(t, tl, owner42, map[string]any{"command": "(sleep 30; touch late.txt) & sleep 30", "timeout": 1})
	}()
	r := <-reqs
	if _, err := ap.Decide(r.ID, "", true); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if !strings.Contains(res.Text, "timed out") {
		t.Errorf("timeout: %+v", res)
	}
}

func TestScopeKey(t *testing.T) {
	for scope, want := range map[string]string{"session": "agent:main:x", "": "agent:main:x", "agent": "agent:main", "shared": "shared"} {
		if got := ScopeKey(scope, "agent:main:x"); got != want {
			t.Errorf("ScopeKey(%q) = %q, want %q", scope, got, want)
		}
	}
}
