package testkit

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAimockAnswersOpenAI(t *testing.T) {
	m := StartAimock(t, []map[string]any{
		{"match": map[string]any{"userMessage": "hello"}, "response": map[string]any{"content": "Hi there!"}},
	})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`
	resp, err := http.Post(m.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "Hi there!") {
		t.Fatalf("response = %s", b)
	}
	if j := m.JournalText(t); !strings.Contains(j, "hello") {
		t.Errorf("journal lacks the request: %s", j)
	}
}
