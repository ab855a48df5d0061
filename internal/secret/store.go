package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"unicode/utf8"

	"filippo.io/age"

	"gatehouse/internal/state"
)

// ErrNotFound is returned, wrapped with the name, for a secret the store
// does not hold.
var ErrNotFound = errors.New("no such secret")

var secretName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// maxStoreSize bounds how much decrypted data OpenStore reads.
const maxStoreSize = 16 << 20

// Store is the secret store: named values kept in one file as an
// age-encrypted JSON object. The file is rewritten atomically under an
// flock(2) on "<path>.lock", so the gateway and the CLI can both change
// it; each sees the other's changes on its next call. A Store is safe for
// concurrent use. Use [OpenStore]; the zero value is not usable.
type Store struct {
	path      string
	identity  *age.X25519Identity
	keySource string // where identity came from, for error messages

	mu sync.Mutex // guards the fields below
	// values is the content of the file described by loaded; loaded is nil
	// when the file did not exist.
	values map[string]string
	loaded fs.FileInfo
}

// OpenStore opens the secret store at path, taking the key from systemd's
// credentials or from keyPath; see [OpenStoreWith].
func OpenStore(path, keyPath string) (*Store, error) {
	return OpenStoreWith(path, keyPath, os.Getenv)
}

// OpenStoreWith opens the secret store at path. A missing store is empty;
// the first Set creates it.
//
// The key is an age X25519 identity (an AGE-SECRET-KEY-1… line, as
// age-keygen writes it). It is read from $CREDENTIALS_DIRECTORY/
// gatehouse-secret-key when that variable (looked up with getenv) is set
// and the file exists, as systemd's LoadCredential= provides it. Otherwise
// it is read from keyPath, which must not be accessible to group or others.
// When keyPath does not exist, a fresh identity is written there with mode
// 0600, unless the store already exists: a new key could not open it.
func OpenStoreWith(path, keyPath string, getenv func(string) string) (*Store, error) {
	id, source, err := loadIdentity(path, keyPath, getenv)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, identity: id, keySource: source}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// Get returns the value of the named secret. The error wraps [ErrNotFound]
// when there is none; it never contains a value.
func (s *Store) Get(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return "", err
	}
	v, ok := s.values[name]
	if !ok {
		return "", notFound(name)
	}
	return v, nil
}

// Set stores value under name, replacing any value it had. The value must
// be non-empty UTF-8 text.
func (s *Store) Set(name, value string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if value == "" {
		return fmt.Errorf("secret %q: the value is empty: pass the value to store", name)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("secret %q: the value is not UTF-8 text: store binary values base64-encoded", name)
	}
	return s.update(func(values map[string]string) error {
		values[name] = value
		return nil
	})
}

// Delete removes the named secret. The error wraps [ErrNotFound] when
// there is none.
func (s *Store) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return s.update(func(values map[string]string) error {
		if _, ok := values[name]; !ok {
			return notFound(name)
		}
		delete(values, name)
		return nil
	})
}

// List returns the names of the stored secrets, sorted. It rereads the
// file when it changed; if that fails it answers from the last good read
// (Get reports the error).
func (s *Store) List() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked() // on error, answer from the last good read
	return s.namesLocked()
}

// Values returns every stored value, in the order of [Store.List], for
// [Redactor.Add]. It rereads the file as List does.
func (s *Store) Values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked() // on error, answer from the last good read
	names := s.namesLocked()
	values := make([]string, len(names))
	for i, name := range names {
		values[i] = s.values[name]
	}
	return values
}

// NameOf returns the first name, in the order of [Store.List], whose value
// is value, or "" when none is. It compares every value in constant time,
// so the time taken does not tell which one matched.
func (s *Store) NameOf(value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked() // on error, answer from the last good read
	found := ""
	for _, name := range s.namesLocked() {
		if Equal(s.values[name], value) && found == "" {
			found = name
		}
	}
	return found
}

func (s *Store) namesLocked() []string {
	names := make([]string, 0, len(s.values))
	for name := range s.values {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func checkName(name string) error {
	if !secretName.MatchString(name) {
		// The name is not echoed: a value passed by mistake would leak.
		return errors.New("secret name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$: use letters, digits, '.', '_' and '-'")
	}
	return nil
}

func notFound(name string) error {
	return fmt.Errorf("secret %q is not set: add it with \"gatehouse secret set %s\": %w", name, name, ErrNotFound)
}

// update applies change to the current content of the file and writes the
// result, holding the store's flock so that no other process's change is
// lost in between.
func (s *Store) update(change func(map[string]string) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := state.MkdirPrivate(filepath.Dir(s.path)); err != nil {
		return err
	}
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	values, _, err := s.read()
	if err != nil {
		return err
	}
	if err := change(values); err != nil {
		return err
	}
	plain, err := json.Marshal(values)
	if err != nil {
		return fmt.Errorf("encode secret store: %w", err)
	}
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, s.identity.Recipient())
	if err != nil {
		return fmt.Errorf("encrypt secret store: %w", err)
	}
	_, err = w.Write(plain)
	clear(plain)
	if err != nil {
		return fmt.Errorf("encrypt secret store: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encrypt secret store: %w", err)
	}
	if err := state.WriteFileAtomic(s.path, sealed.Bytes()); err != nil {
		return fmt.Errorf("save secret store: %w", err)
	}
	// Under the flock nobody else writes, so this describes what we wrote.
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("save secret store: %w", err)
	}
	s.values, s.loaded = values, fi
	return nil
}

// refreshLocked rereads the file if it changed since it was last read.
func (s *Store) refreshLocked() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.values, s.loaded = map[string]string{}, nil
		return nil
	case err != nil:
		return fmt.Errorf("open secret store: %w", err)
	case s.loaded != nil && os.SameFile(fi, s.loaded) && fi.Size() == s.loaded.Size() && fi.ModTime().Equal(s.loaded.ModTime()):
		return nil
	}
	values, fi, err := s.read()
	if err != nil {
		return err
	}
	s.values, s.loaded = values, fi
	return nil
}

// read decrypts the file. A missing file is an empty store and a nil
// FileInfo. Errors never include decrypted content.
func (s *Store) read() (map[string]string, fs.FileInfo, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open secret store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("open secret store: %w", err)
	}
	r, err := age.Decrypt(f, s.identity)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
		return nil, nil, fmt.Errorf("secret store %s was encrypted with a different key than %s: restore the key it was made with: %w", s.path, s.keySource, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("decrypt secret store %s: %w", s.path, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxStoreSize+1))
	defer clear(plain)
	if err != nil {
		return nil, nil, fmt.Errorf("decrypt secret store %s: %w", s.path, err)
	}
	if len(plain) > maxStoreSize {
		return nil, nil, fmt.Errorf("secret store %s holds more than %d MiB: it is not a Gatehouse store", s.path, maxStoreSize>>20)
	}
	var values map[string]string
	// The decoder's error could quote decrypted bytes, so it is not wrapped.
	if err := json.Unmarshal(plain, &values); err != nil || values == nil {
		return nil, nil, fmt.Errorf("secret store %s does not hold a JSON object of strings: restore it from a backup", s.path)
	}
	return values, fi, nil
}
