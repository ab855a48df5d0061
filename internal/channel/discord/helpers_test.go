package discord

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"gatehouse/internal/testkit"
)

const testToken = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"

const (
	botID    = testkit.DiscordBotID
	guildID  = testkit.DiscordGuildID
	annID    = testkit.DiscordUserID
	guildCh  = testkit.DiscordGuildChannel
	annDM    = "1400000000000000009"
	otherBot = "1500000000000000002"
)

// newFake starts testkit's Discord, accepting testToken.
func newFake(t *testing.T) *testkit.Discord {
	t.Helper()
	return testkit.StartDiscord(t, testToken)
}

// messageJSON is the fake's message_create.json with fields replaced; a
// nil value removes the field.
func messageJSON(t testing.TB, with map[string]any) json.RawMessage {
	t.Helper()
	return testkit.DiscordMessage(t, with)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGoroutines fails the test if goroutines it started are still
// running once its later-registered cleanups are done.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: got %d after the test, want at most %d:\n%s", runtime.NumGoroutine(), before, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
