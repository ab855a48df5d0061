package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"gatehouse/internal/state"
)

// CredentialName is the systemd credential that holds the secret store's
// key (LoadCredential=gatehouse-secret-key:PATH).
const CredentialName = "gatehouse-secret-key"

// maxKeySize bounds how much of a key file is read.
const maxKeySize = 64 << 10

// loadIdentity finds the store's key; see OpenStoreWith. It returns the
// identity and where it came from.
func loadIdentity(storePath, keyPath string, getenv func(string) string) (*age.X25519Identity, string, error) {
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		// systemd made this file private to the service; its mode is
		// systemd's business, so it is not checked.
		p := filepath.Join(dir, CredentialName)
		b, err := readLimited(p)
		if err == nil {
			id, err := parseIdentity(b, p)
			return id, p, err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("read secret key from systemd credential: %w", err)
		}
	}
	id, err := readKeyFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		id, err = createKey(storePath, keyPath)
	}
	return id, keyPath, err
}

func readKeyFile(path string) (*age.X25519Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret key %s is open to group or others (mode %04o): run chmod 600 %s", path, uint32(perm), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeySize))
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	defer clear(b)
	return parseIdentity(b, path)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxKeySize))
}

// parseIdentity returns the first X25519 identity in b. Parse errors are
// not wrapped: they may quote the key.
func parseIdentity(b []byte, source string) (*age.X25519Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err == nil {
		for _, id := range ids {
			if x, ok := id.(*age.X25519Identity); ok {
				return x, nil
			}
		}
	}
	return nil, fmt.Errorf("secret key %s is not an age X25519 identity: it must hold one AGE-SECRET-KEY-1… line, as age-keygen writes", source)
}

// createKey writes a fresh identity to keyPath with mode 0600. It never
// replaces a key: if another process creates one first, that one is used.
func createKey(storePath, keyPath string) (*age.X25519Identity, error) {
	if _, err := os.Stat(storePath); err == nil {
		return nil, fmt.Errorf("secret key %s is missing but the store %s exists: restore the key file; a new key cannot decrypt the store", keyPath, storePath)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	content := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)

	dir := filepath.Dir(keyPath)
	if err := state.MkdirPrivate(dir); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(keyPath)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(state.FileMode)
	if err == nil {
		_, err = f.WriteString(content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	// A hard link, unlike a rename, fails when keyPath appeared meanwhile.
	if err := os.Link(tmp, keyPath); errors.Is(err, fs.ErrExist) {
		return readKeyFile(keyPath)
	} else if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if err := state.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	return id, nil
}
