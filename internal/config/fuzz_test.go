package config

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives encoding: the Config marshalled back to JSON parses again, to the
// same JSON. (FromConfig and Save rely on that.) Seeds live in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"gateway": {"bind": "loopback", "port": 18789}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal a parsed config: %v", err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse of the re-marshalled config: %v\ninput: %q\nre-marshalled: %s", err, data, b)
		}
		b2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-marshalled config changed:\n got %s\nwant %s", b2, b)
		}
	})
}
