package e2e

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testkit"
)

const discordToken = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GhJkLm.e2eDiscordBotTokenForGatehouseTests0"

const (
	discordAnn   = "1500000000000000042"
	discordBob   = "1500000000000000043"
	discordGuild = testkit.DiscordGuildID
	discordCh    = testkit.DiscordGuildChannel
)

// waitDiscordPost waits until the bot has posted more than n messages and
// returns the first new one.
func waitDiscordPost(t *testing.T, f *testkit.Discord, n int) testkit.DiscordPost {
	t.Helper()
	return f.Wait("a post by the bot", func(s testkit.DiscordState) bool { return len(s.Posts) > n }).Posts[n]
}

// waitIgnored waits until the gateway has logged n decisions to ignore a
// message for reason.
func waitIgnored(t *testing.T, g *gateway, reason string, n int) {
	t.Helper()
	want := `reason="` + reason + `"`
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(g.output(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not log %d× %s\n%s", n, want, g.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDiscordPairing is issue 4's allow/deny cases on Discord, through the
// real binary against the fake Gateway and REST API: a stranger's DM gets a
// pairing code and never reaches the model; once approved the same user
// gets the model's answer; guild messages are ignored under the default
// groupPolicy, and under an allowlist only those that mention the bot are
// answered.
func TestDiscordPairing(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	f := testkit.StartDiscord(t, discordToken)
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	in.must("channels", "add", "--channel", "discord", "--token", discordToken)
	in.must("config", "set", "channels.discord.apiBaseUrl", f.APIURL())
	in.must("config", "set", "logging.level", "debug")
	g := in.start()
	in.waitHealthy(g)
	f.Wait("the gateway's session", func(s testkit.DiscordState) bool { return s.Sessions == 1 && s.Connected })

	f.SendDM(discordAnn, "hello")
	p := waitDiscordPost(t, f, 0)
	if p.Channel != testkit.DiscordDMChannel(discordAnn) {
		t.Errorf("first reply went to channel %s, want Ann's DM %s", p.Channel, testkit.DiscordDMChannel(discordAnn))
	}
	mm := pairingCode.FindStringSubmatch(p.Content)
	if mm == nil {
		t.Fatalf("first reply = %q, want a pairing code", p.Content)
	}
	code := mm[1]
	if strings.Contains(m.JournalText(t), "hello") {
		t.Errorf("the model saw a stranger's message before pairing")
	}

	// The same sender writing again gets the same code.
	f.SendDM(discordAnn, "hello?")
	if again := waitDiscordPost(t, f, 1); !strings.Contains(again.Content, code) {
		t.Errorf("second reply = %q, want the same code %s", again.Content, code)
	}
	if _, errs, c := in.run("pairing", "approve", "telegram", code); c == 0 {
		t.Errorf("approving a discord code on telegram succeeded: %s", errs)
	}
	if out := in.must("pairing", "approve", "discord", code); !strings.Contains(out, "owner") {
		t.Errorf("approve = %q, want the first approved sender to be the owner", out)
	}

	f.SendDM(discordAnn, "hello")
	if got := waitDiscordPost(t, f, 2); got.Content != "Hi from the mock model." || got.Channel != testkit.DiscordDMChannel(discordAnn) {
		t.Errorf("reply after pairing = %q in channel %s, want the model's answer in Ann's DM", got.Content, got.Channel)
	}

	// groupPolicy is disabled by default: a guild message, even one that
	// mentions the bot, is ignored.
	f.SendGuild(discordGuild, discordCh, discordBob, "<@"+testkit.DiscordBotID+"> hello from the guild")
	waitIgnored(t, g, "group policy disabled", 1)
	if n := len(f.Posts()); n != 3 {
		t.Errorf("the bot posted %d messages, want 3: %+v", n, f.Posts())
	}
	if strings.Contains(m.JournalText(t), "from the guild") {
		t.Errorf("the model saw a guild message under groupPolicy disabled")
	}

	// Allowlist the guild: only messages that mention the bot are answered.
	in.must("gateway", "stop")
	g.waitExit(t)
	assertNotIn(t, g.output(), discordToken)
	in.must("config", "set", "channels.discord.groupPolicy", "allowlist")
	in.must("config", "set", "channels.discord.guilds", `{"`+discordGuild+`": {}}`)
	before := f.State()
	g = in.start()
	in.waitHealthy(g)
	f.Wait("the restarted gateway's session", func(s testkit.DiscordState) bool {
		return s.Connected && len(s.Dials) > len(before.Dials)
	})

	f.SendGuild(discordGuild, discordCh, discordBob, "hello without a mention")
	waitIgnored(t, g, "not mentioned", 1)
	f.SendGuild(discordGuild, discordCh, discordBob, "<@"+testkit.DiscordBotID+"> hello")
	if got := waitDiscordPost(t, f, 3); got.Content != "Hi from the mock model." || got.Channel != discordCh {
		t.Errorf("reply to a mention = %q in channel %s, want the model's answer in %s", got.Content, got.Channel, discordCh)
	}
	if strings.Contains(m.JournalText(t), "without a mention") {
		t.Errorf("the model saw a guild message that did not mention the bot")
	}
	// Another guild is not on the allowlist.
	f.SendGuild("1200000000000000099", "1400000000000000099", discordBob, "<@"+testkit.DiscordBotID+"> hello from elsewhere")
	waitIgnored(t, g, "group not allowlisted", 1)
	if n := len(f.Posts()); n != 4 {
		t.Errorf("the bot posted %d messages, want 4: %+v", n, f.Posts())
	}
	if strings.Contains(m.JournalText(t), "from elsewhere") {
		t.Errorf("the model saw a message from a guild not on the allowlist")
	}

	in.must("gateway", "stop")
	g.waitExit(t)
	assertTokenConfined(t, in.state, discordToken)
	assertNotIn(t, g.output(), discordToken)
}
