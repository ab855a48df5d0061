package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Telegram is a running telegram-test-api (test/peers) on 127.0.0.1: the Bot
// API for the adapter, and a client API for simulated users.
type Telegram struct {
	URL string // e.g. http://127.0.0.1:40123, the adapter's APIBaseURL
}

// StartTelegram starts telegram-test-api on a free loopback port and stops it
// when the test ends. It fails the test when the peer is not installed:
// run npm ci --prefix test/peers (make test does).
func StartTelegram(t testing.TB) *Telegram {
	t.Helper()
	dir := PeersDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "telegram-test-api")); err != nil {
		t.Fatalf("telegram-test-api is not installed (%v): run npm ci --prefix test/peers", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	cmd := exec.Command(node, filepath.Join(dir, "telegram-server.js"), strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- url
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	select {
	case url := <-ready:
		return &Telegram{URL: url}
	case <-done:
		t.Fatalf("telegram-test-api exited: %s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("telegram-test-api did not start: %s", stderr.String())
	}
	return nil
}

// TelegramUser is a simulated Telegram user in a private chat with the bot.
type TelegramUser struct {
	ID   int64
	Name string
}

// Send posts text from u to the bot with token, as the peer's client API
// takes it.
func (p *Telegram) Send(t testing.TB, token string, u TelegramUser, text string) {
	t.Helper()
	p.post(t, "/sendMessage", map[string]any{
		"botToken": token,
		"from":     map[string]any{"id": u.ID, "first_name": u.Name, "username": strings.ToLower(u.Name), "is_bot": false},
		"chat":     map[string]any{"id": u.ID, "type": "private", "first_name": u.Name},
		"text":     text,
		"date":     time.Now().Unix(),
	}, nil)
}

// BotMessage is one message the bot sent, as the peer stored it.
type BotMessage struct {
	Message struct {
		ChatID json.Number `json:"chat_id"`
		Text   string      `json:"text"`
	} `json:"message"`
}

// Replies returns the bot's messages to chat not read before (the peer
// marks them read).
func (p *Telegram) Replies(t testing.TB, token string, chat int64) []string {
	t.Helper()
	var res struct {
		Result []BotMessage `json:"result"`
	}
	p.post(t, "/getUpdates", map[string]any{"token": token, "chatId": chat}, &res)
	var out []string
	for _, m := range res.Result {
		out = append(out, m.Message.Text)
	}
	return out
}

// Sent returns every message the bot sent, to any chat, oldest first.
func (p *Telegram) Sent(t testing.TB, token string) []BotMessage {
	t.Helper()
	var res struct {
		Result []json.RawMessage `json:"result"`
	}
	p.post(t, "/getUpdatesHistory", map[string]any{"token": token}, &res)
	var out []BotMessage
	for _, raw := range res.Result {
		var m BotMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("history entry %s: %v", raw, err)
		}
		if m.Message.ChatID != "" { // the user's messages have chat, not chat_id
			out = append(out, m)
		}
	}
	return out
}

func (p *Telegram) post(t testing.TB, path string, body, dst any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("peer %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("peer %s: HTTP %d: %s", path, resp.StatusCode, raw)
	}
	if dst != nil {
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("peer %s: %v: %s", path, err, raw)
		}
	}
}
