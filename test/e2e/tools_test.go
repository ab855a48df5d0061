package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testkit"
)

// toolFixtures script aimock for the tool tests: a tool call on the
// first request, plain text once a tool result is in the conversation.
func toolFixtures() []map[string]any {
	call := func(user, name string, args map[string]any, final string) []map[string]any {
		return []map[string]any{
			{"match": map[string]any{"userMessage": user, "hasToolResult": false},
				"response": map[string]any{"toolCalls": []map[string]any{{"name": name, "arguments": args}}}},
			{"match": map[string]any{"userMessage": user, "hasToolResult": true},
				"response": map[string]any{"content": final}},
		}
	}
	var f []map[string]any
	f = append(f, call("please run echo hi", "exec",
		map[string]any{"command": "echo hi; echo pidns=$(readlink /proc/self/ns/pid); echo netns=$(readlink /proc/self/ns/net); echo ppid1=$PPID"},
		"The command printed hi.")...)
	f = append(f, call("forge an exec call", "exec",
		map[string]any{"command": "touch /workspace/forged"}, "I tried.")...)
	return f
}

// toolResults returns the content of every tool message the gateway sent
// to the model, in order (repeated across requests, as each carries the
// history).
func toolResults(t *testing.T, m *testkit.Aimock) []string {
	t.Helper()
	var out []string
	for _, raw := range m.Journal(t) {
		var e struct {
			Body struct {
				Messages []struct {
					Role    string `json:"role"`
					Content any    `json:"content"`
				} `json:"messages"`
			} `json:"body"`
		}
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		for _, msg := range e.Body.Messages {
			if msg.Role != "tool" {
				continue
			}
			// A string content is taken as is; any other shape as its JSON.
			if text, ok := msg.Content.(string); ok {
				out = append(out, text)
				continue
			}
			b, _ := json.Marshal(msg.Content)
			out = append(out, string(b))
		}
	}
	return out
}

// offeredTools returns the tool names of every request, in order.
func offeredTools(t *testing.T, m *testkit.Aimock) [][]string {
	t.Helper()
	var out [][]string
	for _, raw := range m.Journal(t) {
		var e struct {
			Body struct {
				Tools []struct {
					Function struct {
						Name string `json:"name"`
					} `json:"function"`
				} `json:"tools"`
			} `json:"body"`
		}
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		var names []string
		for _, tl := range e.Body.Tools {
			names = append(names, tl.Function.Name)
		}
		out = append(out, names)
	}
	return out
}

// TestExecToolInSandbox: a model asked to run `echo hi` through exec gets
// "hi" back, and the command ran inside the sandbox: its pid and network
// namespaces are not the host's.
func TestExecToolInSandbox(t *testing.T) {
	m := testkit.StartAimock(t, toolFixtures())
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	g := in.start()
	in.waitHealthy(g)

	var final struct {
		Text      string `json:"text"`
		ToolCalls int    `json:"toolCalls"`
	}
	if err := json.Unmarshal([]byte(in.must("agent", "--json", "--message", "please run echo hi")), &final); err != nil {
		t.Fatal(err)
	}
	if final.ToolCalls != 1 || !strings.Contains(final.Text, "hi") {
		t.Errorf("turn = %+v", final)
	}
	offered := offeredTools(t, m)
	if len(offered) == 0 || !contains(offered[0], "exec") {
		t.Fatalf("exec not offered: %v", offered)
	}
	results := toolResults(t, m)
	if len(results) != 1 {
		t.Fatalf("tool results = %q", results)
	}
	res := results[0]
	if !strings.Contains(res, "hi\n") || !strings.Contains(res, "[exit code 0]") {
		t.Errorf("exec result = %s", res)
	}
	hostPid, _ := os.Readlink("/proc/self/ns/pid")
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if !strings.Contains(res, "pidns=pid:[") || strings.Contains(res, "pidns="+hostPid) || strings.Contains(res, "netns="+hostNet) {
		t.Errorf("the command did not run in its own namespaces (host %s %s): %s", hostPid, hostNet, res)
	}
	in.must("gateway", "stop")
	g.waitExit(t)
}

// TestExecDenied: with exec in tools.deny, the model never sees the tool,
// and a call it forges anyway is refused without running anything.
func TestExecDenied(t *testing.T) {
	m := testkit.StartAimock(t, toolFixtures())
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	in.must("config", "set", "tools.deny", `["gateway","nodes","exec"]`)
	in.must("config", "set", "agents.defaults.sandbox.workspaceAccess", "rw")
	g := in.start()
	in.waitHealthy(g)

	in.must("agent", "--message", "forge an exec call")
	for i, names := range offeredTools(t, m) {
		if contains(names, "exec") {
			t.Errorf("request %d offered exec: %v", i, names)
		}
		if i == 0 && !contains(names, "read") {
			t.Errorf("request %d lacks the other coding tools: %v", i, names)
		}
	}
	results := toolResults(t, m)
	if len(results) != 1 || !strings.Contains(results[0], "not available") {
		t.Errorf("forged call result = %q", results)
	}
	if _, err := os.Stat(filepath.Join(in.state, "workspace", "forged")); err == nil {
		t.Error("the forged exec ran")
	}
	in.must("gateway", "stop")
	g.waitExit(t)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSandboxCLI drives sandbox status, explain and exec on the native
// backend, as the owner tests what the agent gets.
func TestSandboxCLI(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	var st struct {
		Ready   bool   `json:"ready"`
		Backend string `json:"backend"`
		Layers  []struct {
			Name, State string
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(in.must("sandbox", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Ready || st.Backend != "native" || len(st.Layers) < 10 {
		t.Fatalf("sandbox status = %+v", st)
	}
	out := in.must("sandbox", "explain")
	for _, want := range []string{"tools:", "exec", "/workspace", "ro", "network"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if out := in.must("sandbox", "exec", "--", "echo", "hi"); out != "hi\n" {
		t.Errorf("exec echo = %q", out)
	}
	if _, _, code := in.run("sandbox", "exec", "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3 gave %d", code)
	}
	// The state dir (config, secrets, database) is not in the sandbox's
	// world, and the workspace is read-only.
	out, _, code := in.run("sandbox", "exec", "--", "sh", "-c",
		"cat /etc/shadow; ls /workspace/..; cat "+in.state+"/gatehouse.json; touch /workspace/x")
	if code == 0 || strings.Contains(out, "gateway") || strings.Contains(out, "root:") {
		t.Errorf("exec saw the host: code %d, %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(in.state, "workspace", "x")); err == nil {
		t.Error("wrote to a read-only workspace")
	}
	if _, errs, code := in.run("sandbox", "exec", "--timeout", "1s", "--", "sleep", "30"); code != 124 || !strings.Contains(errs, "timed out") {
		t.Errorf("timeout: code %d, %q", code, errs)
	}
}

// TestElevatedApprovalCLI: an elevated command waits for the owner, who
// sees it with `approvals list` and approves it by id; a command the owner
// denies does not run.
func TestElevatedApprovalCLI(t *testing.T) {
	f := []map[string]any{
		{"match": map[string]any{"userMessage": "list on the host", "hasToolResult": false},
			"response": map[string]any{"toolCalls": []map[string]any{{"name": "exec", "arguments": map[string]any{"argv": []string{"ls"}, "elevated": true}}}}},
		{"match": map[string]any{"userMessage": "list on the host", "hasToolResult": true}, "response": map[string]any{"content": "listed"}},
		{"match": map[string]any{"userMessage": "touch on the host", "hasToolResult": false},
			"response": map[string]any{"toolCalls": []map[string]any{{"name": "exec", "arguments": map[string]any{"command": "touch pwned", "elevated": true}}}}},
		{"match": map[string]any{"userMessage": "touch on the host", "hasToolResult": true}, "response": map[string]any{"content": "tried"}},
	}
	m := testkit.StartAimock(t, f)
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	in.must("config", "set", "tools.elevated.enabled", "true")
	in.must("config", "set", "tools.elevated.allowFrom", `{"cli":["owner"]}`)
	g := in.start()
	in.waitHealthy(g)
	ws := filepath.Join(in.state, "workspace")

	decide := func(verb, msg string) string {
		done := make(chan string, 1)
		go func() {
			out, _, _ := in.run("agent", "--message", msg)
			done <- out
		}()
		var pending struct {
			Pending []struct {
				ID         string   `json:"id"`
				Argv       []string `json:"argv"`
				Executable string   `json:"executable"`
				Dir        string   `json:"dir"`
			} `json:"pending"`
		}
		for i := 0; ; i++ {
			if err := json.Unmarshal([]byte(in.must("approvals", "list", "--json")), &pending); err != nil {
				t.Fatal(err)
			}
			if len(pending.Pending) == 1 {
				break
			}
			if i > 500 {
				t.Fatalf("no approval request appeared: %+v", pending)
			}
			sleepShort()
		}
		p := pending.Pending[0]
		if real, _ := filepath.EvalSymlinks(ws); p.Dir != real || !filepath.IsAbs(p.Executable) {
			t.Errorf("request = %+v", p)
		}
		in.must("approvals", verb, p.ID)
		if _, _, code := in.run("approvals", "approve", p.ID); code == 0 {
			t.Error("a decided approval was accepted again")
		}
		return <-done
	}
	if out := decide("approve", "list on the host"); !strings.Contains(out, "listed") {
		t.Errorf("approved turn = %q", out)
	}
	if res := toolResults(t, m); len(res) != 1 || !strings.Contains(res[0], "SOUL.md") {
		t.Errorf("elevated ls result = %q", res)
	}
	decide("deny", "touch on the host")
	if _, err := os.Stat(filepath.Join(ws, "pwned")); err == nil {
		t.Error("the denied command ran")
	}
	if !waitLog(g, "elevated command waiting") {
		t.Error("the request was not logged")
	}
	in.must("gateway", "stop")
	g.waitExit(t)
}
