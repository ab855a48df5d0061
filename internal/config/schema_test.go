package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestSchema_golden(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if !json.Valid(got) {
		t.Fatal("Schema is not valid JSON")
	}
	again, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Error("Schema is not deterministic")
	}
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Schema differs from %s; if the change is intended, run go test ./internal/config -update", golden)
	}
}

// TestSchema_matches_validator checks that the exported schema describes the
// same keys the validator accepts.
func TestSchema_matches_validator(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		AdditionalProperties bool `json:"additionalProperties"`
		Properties           map[string]struct {
			Properties map[string]struct {
				Default any `json:"default"`
			} `json:"properties"`
		} `json:"properties"`
		Defs map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.AdditionalProperties {
		t.Error("top level additionalProperties got true, want false")
	}
	if got, want := s.Properties["gateway"].Properties["port"].Default, float64(DefaultPort); got != want {
		t.Errorf("gateway.port default got %v, want %v", got, want)
	}
	for _, name := range []string{"Secret", "Channel", "GroupRule", "Provider", "PluginEntry", "ChannelDM"} {
		if _, ok := s.Defs[name]; !ok {
			t.Errorf("$defs lacks %s", name)
		}
	}
}

func TestPaths(t *testing.T) {
	paths := Paths()
	for _, want := range []string{
		"gateway.bind",
		"gateway.auth.token",
		"agents.defaults.sandbox.docker.readOnlyRoot",
		"tools.elevated.allowFrom.<name>",
		"channels.telegram.groups.<name>.requireMention",
		"models.providers.<name>.apiKey",
		"plugins.entries.<name>.enabled",
	} {
		if !slices.Contains(paths, want) {
			t.Errorf("Paths() lacks %q", want)
		}
	}
	// Every path resolves, with placeholders standing for map keys.
	for _, p := range paths {
		if _, err := resolve(strings.ReplaceAll(p, "<name>", "x")); err != nil {
			t.Errorf("Paths() has %q, which does not resolve: %v", p, err)
		}
	}
	if !slices.Equal(Paths(), paths) {
		t.Error("Paths() is not deterministic")
	}
}
