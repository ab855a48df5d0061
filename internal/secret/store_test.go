package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
)

const storeValue = "sk-plaintext-value-0123456789abcdef"

// noEnv is a getenv that finds nothing, so tests do not depend on the
// environment they run in.
func noEnv(string) string { return "" }

type paths struct{ dir, store, key string }

func newPaths(t *testing.T) paths {
	dir := filepath.Join(t.TempDir(), "state")
	return paths{dir: dir, store: filepath.Join(dir, "secrets.age"), key: filepath.Join(dir, "secret.key")}
}

func open(t *testing.T, p paths) *Store {
	t.Helper()
	s, err := OpenStoreWith(p.store, p.key, noEnv)
	if err != nil {
		t.Fatalf("OpenStoreWith: %v", err)
	}
	return s
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestStore_round_trip(t *testing.T) {
	p := newPaths(t)
	s := open(t, p)
	if got := s.List(); len(got) != 0 {
		t.Errorf("List of a new store = %q, want none", got)
	}
	for name, v := range map[string]string{"OPENAI_API_KEY": storeValue, "telegram.bot": "tg-value-123456", "a": "x"} {
		if err := s.Set(name, v); err != nil {
			t.Fatalf("Set(%s): %v", name, err)
		}
	}
	if err := s.Set("a", "replaced"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("telegram.bot"); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	reopened := open(t, p)
	for _, st := range []*Store{s, reopened} {
		if got, want := st.List(), []string{"OPENAI_API_KEY", "a"}; !slices.Equal(got, want) {
			t.Errorf("List = %q, want %q", got, want)
		}
		if got, want := st.Values(), []string{storeValue, "replaced"}; !slices.Equal(got, want) {
			t.Errorf("Values = %q, want %q", got, want)
		}
		got, err := st.Get("OPENAI_API_KEY")
		if err != nil || got != storeValue {
			t.Errorf("Get = %q, %v, want the value", got, err)
		}
	}
}

func TestStore_file_modes(t *testing.T) {
	p := newPaths(t)
	s := open(t, p)
	if err := s.Set("k", storeValue); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, p.dir); got != 0o700 {
		t.Errorf("mode of created dir = %#o, want 0700", got)
	}
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if got := mode(t, filepath.Join(p.dir, e.Name())); got != 0o600 {
			t.Errorf("mode of %s = %#o, want 0600", e.Name(), got)
		}
	}
	if want := []string{"secret.key", "secrets.age", "secrets.age.lock"}; !slices.Equal(names, want) {
		t.Errorf("files = %q, want %q", names, want)
	}
}

func TestStore_file_holds_no_plaintext(t *testing.T) {
	p := newPaths(t)
	s := open(t, p)
	if err := s.Set("OPENAI_API_KEY", storeValue); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.store)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(storeValue)) || bytes.Contains(b, []byte("OPENAI_API_KEY")) {
		t.Error("store file holds the plaintext value or name")
	}
	if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
		t.Errorf("store file starts %q, want an age header", b[:min(len(b), 22)])
	}
}

func TestStore_key_file(t *testing.T) {
	p := newPaths(t)
	open(t, p)
	if got := mode(t, p.key); got != 0o600 {
		t.Errorf("key mode = %#o, want 0600", got)
	}
	b, err := os.ReadFile(p.key)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil || len(ids) != 1 {
		t.Fatalf("key file does not parse as one age identity: %v", err)
	}
	if !strings.Contains(string(b), "# public key: age1") {
		t.Errorf("key file has no public key comment:\n%s", b)
	}
}

func TestStore_refuses_open_key(t *testing.T) {
	p := newPaths(t)
	open(t, p)
	if err := os.Chmod(p.key, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStoreWith(p.store, p.key, noEnv)
	if want := "chmod 600 " + p.key; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("OpenStoreWith = %v, want an error saying %q", err, want)
	}
}

func TestStore_refuses_new_key_for_existing_store(t *testing.T) {
	p := newPaths(t)
	if err := open(t, p).Set("k", storeValue); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p.key); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStoreWith(p.store, p.key, noEnv)
	if err == nil || !strings.Contains(err.Error(), "restore the key file") {
		t.Errorf("OpenStoreWith = %v, want a restore-the-key error", err)
	}
	if _, err := os.Stat(p.key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a new key file was written: %v", err)
	}
}

func TestStore_bad_key_file(t *testing.T) {
	p := newPaths(t)
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	content := "AGE-SECRET-KEY-1NOTAREALKEYBUTSECRETANYWAY\n"
	if err := os.WriteFile(p.key, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStoreWith(p.store, p.key, noEnv)
	if err == nil || !strings.Contains(err.Error(), "not an age X25519 identity") {
		t.Fatalf("OpenStoreWith = %v, want a not-an-identity error", err)
	}
	if strings.Contains(err.Error(), "NOTAREALKEY") {
		t.Errorf("error quotes the key file: %v", err)
	}
}

func TestStore_systemd_credential(t *testing.T) {
	p := newPaths(t)
	creds := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "gatehouse-secret-key"), []byte(id.String()+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return creds
		}
		return ""
	}
	s, err := OpenStoreWith(p.store, p.key, env)
	if err != nil {
		t.Fatalf("OpenStoreWith: %v", err)
	}
	if err := s.Set("k", storeValue); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key file written although systemd supplied the key: %v", err)
	}

	// The store opens with the credential's key and with no other.
	f, err := os.Open(p.store)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := age.Decrypt(f, id); err != nil {
		t.Errorf("store does not decrypt with the credential: %v", err)
	}
	other := paths{dir: p.dir, store: p.store, key: filepath.Join(t.TempDir(), "other.key")}
	if err := os.WriteFile(other.key, []byte(mustIdentity(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStoreWith(other.store, other.key, noEnv)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); !ok || !strings.Contains(err.Error(), "different key") {
		t.Errorf("OpenStoreWith with the wrong key = %v, want a different-key error", err)
	}
}

func mustIdentity(t *testing.T) string {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func TestStore_credentials_directory_without_the_file(t *testing.T) {
	p := newPaths(t)
	creds := t.TempDir()
	s, err := OpenStoreWith(p.store, p.key, func(string) string { return creds })
	if err != nil {
		t.Fatalf("OpenStoreWith: %v", err)
	}
	if err := s.Set("k", "value1"); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, p.key); got != 0o600 {
		t.Errorf("fallback key mode = %#o, want 0600", got)
	}
}

func TestStore_errors(t *testing.T) {
	s := open(t, newPaths(t))
	if err := s.Set("present", storeValue); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		call     func() error
		want     string
		notFound bool
	}{
		{name: "get_missing", call: func() error { _, err := s.Get("missing"); return err }, want: `secret "missing" is not set`, notFound: true},
		{name: "delete_missing", call: func() error { return s.Delete("missing") }, want: `secret "missing" is not set`, notFound: true},
		{name: "get_bad_name", call: func() error { _, err := s.Get("../etc"); return err }, want: "secret name must match"},
		{name: "set_bad_name", call: func() error { return s.Set("-x", storeValue) }, want: "secret name must match"},
		{name: "set_long_name", call: func() error { return s.Set(strings.Repeat("a", 129), storeValue) }, want: "secret name must match"},
		{name: "set_empty_value", call: func() error { return s.Set("x", "") }, want: "the value is empty"},
		{name: "set_binary_value", call: func() error { return s.Set("x", "\xff\xfe") }, want: "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if got := errors.Is(err, ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tt.notFound)
			}
			if strings.Contains(err.Error(), storeValue) {
				t.Errorf("error holds a value: %v", err)
			}
		})
	}
}

func TestStore_names(t *testing.T) {
	s := open(t, newPaths(t))
	for _, name := range []string{"a", "A.b-c_d", "0", strings.Repeat("n", 128)} {
		if err := s.Set(name, "value1"); err != nil {
			t.Errorf("Set(%q): %v", name, err)
		}
	}
}

func TestStore_corrupt_plaintext_not_in_error(t *testing.T) {
	p := newPaths(t)
	s := open(t, p)
	if err := s.Set("k", "value1"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.key)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, ids[0].(*age.X25519Identity).Recipient())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "X"+storeValue)
	w.Close()
	if err := os.WriteFile(p.store, sealed.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("k")
	if err == nil || !strings.Contains(err.Error(), "JSON object") {
		t.Fatalf("Get = %v, want a not-JSON error", err)
	}
	if strings.Contains(err.Error(), "X") {
		t.Errorf("error quotes decrypted bytes: %v", err)
	}
}

func TestStore_two_processes_see_each_other(t *testing.T) {
	// Two Stores on the same files stand in for the gateway and the CLI.
	p := newPaths(t)
	gateway, cli := open(t, p), open(t, p)
	if err := gateway.Set("a", "value-a"); err != nil {
		t.Fatal(err)
	}
	if err := cli.Set("b", "value-b"); err != nil {
		t.Fatal(err)
	}
	if got, err := gateway.Get("b"); err != nil || got != "value-b" {
		t.Errorf("gateway.Get(b) = %q, %v, want value-b", got, err)
	}
	if got, want := cli.List(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("cli.List = %q, want %q", got, want)
	}
}

func TestStore_concurrent_writers(t *testing.T) {
	p := newPaths(t)
	stores := []*Store{open(t, p), open(t, p)}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := stores[i%2].Set(fmt.Sprintf("k%02d", i), fmt.Sprintf("value%02d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := open(t, p).List(); len(got) != 20 {
		t.Errorf("List after 20 concurrent Sets = %q, want 20 names", got)
	}
}

func TestStore_NameOf(t *testing.T) {
	s := open(t, newPaths(t))
	for name, v := range map[string]string{"b": "shared-value", "a": "shared-value", "c": "other-value"} {
		if err := s.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{name: "first_of_two", value: "shared-value", want: "a"},
		{name: "single", value: "other-value", want: "c"},
		{name: "absent", value: "nope-value", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.NameOf(tt.value); got != tt.want {
				t.Errorf("NameOf = %q, want %q", got, tt.want)
			}
		})
	}
}
