package tool

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzToolArgs feeds arbitrary bytes to time_now's argument decoder: it
// must never panic, must refuse anything over the size cap, and whatever it
// accepts must name a real zone or none.
func FuzzToolArgs(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `{"timezone":"Europe/Paris"}`, `{"timezone":"UTC"}`,
		`{"timezone":"Local"}`, `{"timezone":"../../../etc/passwd"}`, `{"timezone":"/etc/localtime"}`,
		`{"timezone":1}`, `{"Timezone":"UTC"}`, `{"timezone":"UTC","timezone":"UTC"}`,
		`{"timezone":"UTC"}{}`, `[{"timezone":"UTC"}]`, `{"timezone":"\u0000"}`,
		`{"timezone":"Etc/GMT+5"}`, `{"x":{"y":[1,2,{"z":null}]}}`, `{"timezone":null}`,
		"\ufeff{}", `{"timezone":"` + strings.Repeat("A/", 40) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		loc, err := parseTimeArgs(json.RawMessage(raw))
		if len(raw) > MaxArgsBytes && err == nil {
			t.Fatalf("accepted %d bytes, over the cap", len(raw))
		}
		if err != nil {
			if loc != nil {
				t.Fatalf("error %v with a location", err)
			}
			return
		}
		if loc != nil && (loc.String() == "Local" || strings.Contains(loc.String(), "..")) {
			t.Fatalf("accepted zone %q", loc)
		}
	})
}
