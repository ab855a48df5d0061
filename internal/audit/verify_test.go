package audit

import (
	"context"
	"strings"
	"testing"
)

// TestVerifyChecklist: every row has a result, and every row that does not
// pass says why.
func TestVerifyChecklist(t *testing.T) {
	d, home := newState(t)
	o := testOptions(t, d, home)
	o.Run = fakeHost{
		"ufw status verbose": {out: "Status: active\nDefault: deny (incoming), allow (outgoing), deny (routed)\n"},
	}.run
	cl, err := Verify(context.Background(), VerifyOptions{Options: o, Version: "1.2.3",
		ApprovedSenders: func(context.Context, string) (int, error) { return 0, nil }})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Row{}
	for _, r := range cl.Rows {
		byName[r.Check] = r
		switch r.Result {
		case ResultPass:
		case ResultFail, ResultSkip:
			if r.Reason == "" {
				t.Errorf("%s: %s without a reason", r.Check, r.Result)
			}
		default:
			t.Errorf("%s: result %q", r.Check, r.Result)
		}
		if r.Command == "" || r.Expected == "" {
			t.Errorf("%s: no command or expected value: %+v", r.Check, r)
		}
	}
	for name, want := range map[string]string{
		"Gatehouse version":         ResultPass,
		"Node.js version":           ResultSkip,
		"Firewall active":           ResultPass,
		"DOCKER-USER chain":         ResultSkip,
		"Gateway answering":         ResultFail, // nothing runs on the configured port
		"Security score":            ResultSkip,
		"Funnel off":                ResultSkip,
		"Gateway bound to loopback": ResultPass,
		"Gateway token":             ResultPass,
		"File permissions":          ResultPass,
		"SOUL.md locked":            ResultFail,
		"Channel paired":            ResultSkip,
	} {
		if got := byName[name]; got.Result != want {
			t.Errorf("%s = %s (%s), want %s", name, got.Result, got.Reason, want)
		}
	}
	if !strings.Contains(byName["Node.js version"].Reason, "not applicable") {
		t.Errorf("Node.js row: %+v", byName["Node.js version"])
	}
	if s := cl.Summary; s.Pass+s.Fail+s.Skip != len(cl.Rows) || !cl.Failed() {
		t.Errorf("summary %+v for %d rows", s, len(cl.Rows))
	}
}

func TestVerifyChannelPaired(t *testing.T) {
	d, home := newState(t)
	setConfig(t, d, "channels.telegram.dmPolicy", "pairing", "channels.slack.allowFrom", `["U123"]`)
	o := testOptions(t, d, home)
	count := func(_ context.Context, ch string) (int, error) {
		if ch == "telegram" {
			return 1, nil
		}
		return 0, nil
	}
	cl, err := Verify(context.Background(), VerifyOptions{Options: o, ApprovedSenders: count})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cl.Rows {
		if r.Check == "Channel paired" && (r.Result != ResultPass || !strings.Contains(r.Evidence, "telegram: 1")) {
			t.Errorf("channel row = %+v", r)
		}
	}
}
