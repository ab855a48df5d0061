package e2e

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testkit"
)

const (
	slackBotToken = "xoxb-2200000000001-2200000000002-e2eSlackBotTokenForGatehouse"
	slackAppToken = "xapp-1-A01K58AR4RF-2200000000003-e2e0slack0app0token0for0gatehouse0tests"
)

const (
	slackAnn     = "U0E2EANN01"
	slackBob     = "U0E2EBOB02"
	slackChannel = "C0E2ECHAN1"
)

// TestSlackPairing is issue 4's allow/deny cases on Slack, through the
// real binary against the fake Web API and Socket Mode endpoint: a
// stranger's DM gets a pairing code and never reaches the model; once
// approved the same user gets the model's answer; channel messages are
// ignored under the default groupPolicy; neither token leaves the secret
// store.
func TestSlackPairing(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	f := testkit.StartSlack(t, slackBotToken, slackAppToken)
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	in.must("channels", "add", "--channel", "slack", "--token", slackBotToken, "--app-token", slackAppToken)
	in.must("config", "set", "channels.slack.apiBaseUrl", f.APIURL())
	in.must("config", "set", "logging.level", "debug")
	g := in.start()
	in.waitHealthy(g)
	f.WaitConnections(1)

	f.SendDM(slackAnn, "hello")
	p := f.WaitPost(0)
	if p.Channel != testkit.SlackDMChannel(slackAnn) {
		t.Errorf("first reply went to channel %s, want Ann's DM %s", p.Channel, testkit.SlackDMChannel(slackAnn))
	}
	mm := pairingCode.FindStringSubmatch(p.Text)
	if mm == nil {
		t.Fatalf("first reply = %q, want a pairing code", p.Text)
	}
	code := mm[1]
	if strings.Contains(m.JournalText(t), "hello") {
		t.Errorf("the model saw a stranger's message before pairing")
	}

	// The same sender writing again gets the same code.
	f.SendDM(slackAnn, "hello?")
	if again := f.WaitPost(1); !strings.Contains(again.Text, code) {
		t.Errorf("second reply = %q, want the same code %s", again.Text, code)
	}
	if j := m.Journal(t); len(j) != 0 {
		t.Errorf("the model was called %d times before pairing, want never", len(j))
	}
	if _, errs, c := in.run("pairing", "approve", "discord", code); c == 0 {
		t.Errorf("approving a slack code on discord succeeded: %s", errs)
	}
	if out := in.must("pairing", "approve", "slack", code); !strings.Contains(out, "owner") {
		t.Errorf("approve = %q, want the first approved sender to be the owner", out)
	}

	f.SendDM(slackAnn, "hello")
	if got := f.WaitPost(2); got.Text != "Hi from the mock model." || got.Channel != testkit.SlackDMChannel(slackAnn) {
		t.Errorf("reply after pairing = %q in channel %s, want the model's answer in Ann's DM", got.Text, got.Channel)
	}

	// groupPolicy is disabled by default: a channel message, even one that
	// mentions the bot, is ignored.
	f.SendChannel(slackChannel, slackBob, "hello from the channel", true)
	waitIgnored(t, g, "group policy disabled", 1)
	if n := len(f.Posts()); n != 3 {
		t.Errorf("the bot posted %d messages, want 3: %+v", n, f.Posts())
	}
	if strings.Contains(m.JournalText(t), "from the channel") {
		t.Errorf("the model saw a channel message under groupPolicy disabled")
	}

	// Allowlist the channel: only messages that mention the bot are answered,
	// in the channel.
	in.must("gateway", "stop")
	g.waitExit(t)
	in.must("config", "set", "channels.slack.groupPolicy", "allowlist")
	in.must("config", "set", "channels.slack.groups", `{"`+slackChannel+`": {}}`)
	opens := f.Opens()
	g = in.start()
	in.waitHealthy(g)
	deadline := time.Now().Add(20 * time.Second)
	for f.Opens() <= opens && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	f.WaitConnections(1)
	f.SendChannel(slackChannel, slackBob, "hello without a mention", false)
	waitIgnored(t, g, "not mentioned", 1)
	f.SendChannel(slackChannel, slackBob, "hello with a mention", true)
	if got := f.WaitPost(3); got.Text != "Hi from the mock model." || got.Channel != slackChannel {
		t.Errorf("reply to a mention = %q in channel %s, want the model's answer in %s", got.Text, got.Channel, slackChannel)
	}
	if strings.Contains(m.JournalText(t), "without a mention") {
		t.Errorf("the model saw a channel message that did not mention the bot")
	}

	in.must("gateway", "stop")
	g.waitExit(t)
	for _, secret := range []string{slackBotToken, slackAppToken} {
		assertTokenConfined(t, in.state, secret)
		assertNotIn(t, g.output(), secret)
	}
	assertNotIn(t, g.output(), testkit.SlackTicket)
}
