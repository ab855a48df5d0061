package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testkit"
)

const telegramToken = "123456789:AAFakeTelegramBotTokenForTheE2ETests0"

// waitReply polls the peer until the bot said something to chat.
func waitReply(t *testing.T, p *testkit.Telegram, chat int64) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r := p.Replies(t, telegramToken, chat); len(r) > 0 {
			return strings.Join(r, "\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no reply to chat %d", chat)
	return ""
}

var pairingCode = regexp.MustCompile(`pairing code is ([A-Z2-9]{8})`)

// TestTelegramPairing is issue 4's first acceptance point: an unknown user
// writes and gets a pairing code while the model is never called; the owner
// approves the code; the user writes again and gets the model's reply.
func TestTelegramPairing(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	p := testkit.StartTelegram(t)
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	in.must("channels", "add", "--channel", "telegram", "--token", telegramToken)
	in.must("config", "set", "channels.telegram.apiBaseUrl", p.URL)
	g := in.start()
	in.waitHealthy(g)

	ann := testkit.TelegramUser{ID: 4242, Name: "Ann"}
	p.Send(t, telegramToken, ann, "hello")
	got := waitReply(t, p, ann.ID)
	mm := pairingCode.FindStringSubmatch(got)
	if mm == nil {
		t.Fatalf("first reply = %q, want a pairing code", got)
	}
	code := mm[1]
	if strings.Contains(m.JournalText(t), "hello") {
		t.Errorf("the model saw a stranger's message before pairing")
	}

	// The same sender writing again gets the same code.
	p.Send(t, telegramToken, ann, "hello?")
	if again := waitReply(t, p, ann.ID); !strings.Contains(again, code) {
		t.Errorf("second reply = %q, want the same code %s", again, code)
	}

	var pending struct {
		Pending []struct{ Channel, Code, SenderID string } `json:"pending"`
	}
	if err := json.Unmarshal([]byte(in.must("pairing", "list", "telegram", "--json")), &pending); err != nil {
		t.Fatal(err)
	}
	if len(pending.Pending) != 1 || pending.Pending[0].Code != code || pending.Pending[0].SenderID != "4242" {
		t.Errorf("pairing list = %+v", pending.Pending)
	}
	// A code is bound to its channel.
	if _, errs, c := in.run("pairing", "approve", "discord", code); c == 0 {
		t.Errorf("approving a telegram code on discord succeeded: %s", errs)
	}
	if out := in.must("pairing", "approve", "telegram", code); !strings.Contains(out, "owner") {
		t.Errorf("approve = %q, want the first approved sender to be the owner", out)
	}
	// A used code cannot be reused.
	if _, _, c := in.run("pairing", "approve", "telegram", code); c == 0 {
		t.Errorf("a used code was accepted again")
	}

	p.Send(t, telegramToken, ann, "hello")
	if got := waitReply(t, p, ann.ID); got != "Hi from the mock model." {
		t.Errorf("reply after pairing = %q", got)
	}

	var st struct {
		Channels []struct {
			Name      string `json:"name"`
			Connected bool   `json:"connected"`
		} `json:"channels"`
	}
	if err := json.Unmarshal([]byte(in.must("channels", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Channels) != 1 || !st.Channels[0].Connected {
		t.Errorf("channels status = %+v\n%s", st.Channels, in.must("channels", "status", "--json"))
	}
	in.must("gateway", "stop")
	g.waitExit(t)
	assertTokenConfined(t, in.state, telegramToken)
	assertNotIn(t, g.output(), telegramToken)
}
