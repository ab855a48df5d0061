package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	id := regexp.MustCompile(`^[a-z]+(\.[a-zA-Z]+)+$`)
	for _, c := range Catalog() {
		switch {
		case seen[c.ID]:
			t.Errorf("%s listed twice", c.ID)
		case !id.MatchString(c.ID):
			t.Errorf("%s is not a dotted lowerCamel id", c.ID)
		case c.Title == "" || !unicode.IsUpper([]rune(c.Title)[0]) && !strings.Contains(strings.Fields(c.Title)[0], "."):
			t.Errorf("%s: title %q", c.ID, c.Title)
		case strings.HasSuffix(c.Title, "."):
			t.Errorf("%s: title ends with a period", c.ID)
		case c.Remediation == "":
			t.Errorf("%s: no remediation", c.ID)
		case c.Severity.rank() == 0:
			t.Errorf("%s: severity %q", c.ID, c.Severity)
		}
		seen[c.ID] = true
	}
}

// TestCatalogGolden pins the catalog (gatehouse security checks --json):
// check ids are an interface, and changing one must be deliberate.
func TestCatalogGolden(t *testing.T) {
	b, err := json.MarshalIndent(Catalog(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "catalog.golden", append(b, '\n'))
}

// TestReportGolden pins `security audit --json` for the insecure
// config, with the temporary paths, the time and the uid normalised.
func TestReportGolden(t *testing.T) {
	d, home := newState(t)
	makeInsecure(t, d)
	o := testOptions(t, d, home)
	o.Now = func() time.Time { return time.Now() }
	rep := mustRun(t, o)
	rep.GeneratedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(buf.String(), filepath.Dir(d.Root), "$TMP")
	out = regexp.MustCompile(`uid \d+`).ReplaceAllString(out, "uid N")
	out = regexp.MustCompile(`changed -?\d+ days ago`).ReplaceAllString(out, "changed N days ago")
	golden(t, "insecure-report.golden", []byte(out))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./internal/audit -run %s -update and review the diff):\n%s", path, t.Name(), firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, a, b)
		}
	}
	return ""
}
