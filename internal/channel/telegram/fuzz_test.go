package telegram

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/channel"
)

// FuzzDecodeUpdate feeds arbitrary JSON to the update decoder and the
// mapping to channel.Inbound: no panic, and every Inbound is well formed.
func FuzzDecodeUpdate(f *testing.F) {
	seeds := []string{
		`{"update_id":1,"message":{"message_id":1,"from":{"id":5,"first_name":"U"},"chat":{"id":5,"type":"private"},"date":1,"text":"hi"}}`,
		`{"update_id":2,"message":{"message_id":2,"from":{"id":5,"first_name":"U"},"chat":{"id":-100,"type":"supergroup"},"date":1,"text":"@Gatehouse_Test_Bot ping","is_topic_message":true,"message_thread_id":9}}`,
		`{"update_id":3,"message":{"message_id":3,"from":{"id":5,"is_bot":true},"chat":{"id":5,"type":"private"},"text":"bot"}}`,
		`{"update_id":4,"edited_message":{"message_id":3,"text":"x"}}`,
		`{"update_id":5,"message":{"message_id":5,"from":{"id":5},"chat":{"id":5,"type":"group"},"photo":[{"file_id":"a"}],"caption":"look"}}`,
		`{"update_id":"6"}`,
		`{"update_id":-1,"message":null}`,
		`{"update_id":7,"message":{"text":"\ud800"}}`,
		`[]`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "getUpdates.json")); err == nil {
		f.Add(b)
	}
	me := User{ID: 7001, Username: "gatehouse_test_bot", IsBot: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeUpdate(b)
		if err != nil {
			return
		}
		if u.UpdateID <= 0 {
			t.Fatalf("decoded update_id %d without error", u.UpdateID)
		}
		in, ok := inbound(u, me, "")
		if !ok {
			return
		}
		if in.Channel != Name {
			t.Fatalf("channel %q", in.Channel)
		}
		if in.MessageID != strconv.FormatInt(u.UpdateID, 10) {
			t.Fatalf("MessageID %q for update %d", in.MessageID, u.UpdateID)
		}
		if in.ChatType != channel.ChatDirect && in.ChatType != channel.ChatGroup {
			t.Fatalf("ChatType %q", in.ChatType)
		}
		if in.Text == "" || in.ChatID == "" || in.SenderID == "" {
			t.Fatalf("incomplete inbound %+v", in)
		}
		if !utf8.ValidString(in.Text) {
			t.Fatalf("text not UTF-8: %q", in.Text)
		}
	})
}
