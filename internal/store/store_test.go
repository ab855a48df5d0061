package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOpenMigratesOnceAcrossReopen(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := knownVersion(t); v != want {
		t.Fatalf("SchemaVersion = %d, want %d", v, want)
	}
	created, ok, err := db.GetMeta(ctx, "created_at")
	if err != nil || !ok || created == "" {
		t.Fatalf("GetMeta(created_at) = %q, %v, %v; want a timestamp", created, ok, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		var n int
		var name, appliedAt string
		err = db.SQL().QueryRowContext(ctx,
			`SELECT COUNT(*), (SELECT name FROM schema_migrations WHERE version = 1), MAX(applied_at) FROM schema_migrations`).Scan(&n, &name, &appliedAt)
		if err != nil {
			t.Fatal(err)
		}
		if want := knownVersion(t); n != want || name != "meta" || appliedAt == "" {
			t.Errorf("schema_migrations = %d rows, first %q, applied_at %q; want %d rows, \"meta\" first, a timestamp", n, name, appliedAt, want)
		}
		again, _, err := db.GetMeta(ctx, "created_at")
		if err != nil {
			t.Fatal(err)
		}
		if again != created {
			t.Errorf("created_at after reopen = %q, want %q (migration ran twice)", again, created)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := Open(t.Context(), path)
			if err != nil {
				errs <- err
				return
			}
			errs <- db.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := knownVersion(t); n != want {
		t.Errorf("schema_migrations has %d rows, want %d", n, want)
	}
}

func TestMeta(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	if v, ok, err := db.GetMeta(ctx, "missing"); err != nil || ok || v != "" {
		t.Errorf("GetMeta(missing) = %q, %v, %v; want \"\", false, nil", v, ok, err)
	}
	for _, want := range []string{"one", "two"} {
		if err := db.SetMeta(ctx, "k", want); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := db.GetMeta(ctx, "k"); err != nil || !ok || got != want {
			t.Errorf("GetMeta(k) = %q, %v, %v; want %q, true, nil", got, ok, err, want)
		}
	}
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	// Several connections at once, so that each one is checked, not just
	// the first one in the pool.
	conns := make([]interface{ Close() error }, 0, 3)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 3 {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var journal string
		var busy, fk, syncMode int
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			name string
			dst  *int
		}{{"busy_timeout", &busy}, {"foreign_keys", &fk}, {"synchronous", &syncMode}} {
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(p.dst); err != nil {
				t.Fatal(err)
			}
		}
		if journal != "wal" || busy != 5000 || fk != 1 || syncMode != 1 {
			t.Errorf("conn %d: journal_mode=%s busy_timeout=%d foreign_keys=%d synchronous=%d; want wal 5000 1 1",
				i, journal, busy, fk, syncMode)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO counter VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := db.SetMeta(ctx, fmt.Sprintf("w%d-%d", w, i), "x"); err != nil {
					errs <- err
					return
				}
				// Read then write in one transaction: with a deferred
				// BEGIN this is where SQLITE_BUSY would appear.
				tx, err := db.SQL().BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if _, err := tx.ExecContext(ctx, `UPDATE counter SET n = ? WHERE id = 1`, n+1); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	var n, keys int
	if err := db.SQL().QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE key LIKE 'w%'`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if n != writers*each || keys != writers*each {
		t.Errorf("counter = %d, meta rows = %d; want %d each (lost updates)", n, keys, writers*each)
	}
}

func TestFileModes(t *testing.T) {
	db, path := openTemp(t)
	// A write makes sure the WAL has content and both companions exist.
	if err := db.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	assertModes(t, path)
}

func TestOpenExistingLooseFileTightensCompanions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A database copied in with a loose mode: SQLite would give its -wal
	// and -shm the same mode. The main file is doctor's to fix.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %v, want 0600", suffix, got)
		}
	}
}

func assertModes(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := Open(t.Context(), filepath.Join(t.TempDir(), "nope", "gatehouse.db"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open in a missing directory = %v, want fs.ErrNotExist", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	db, path := openTemp(t)
	if _, err := db.SQL().ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err := Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open of a newer schema succeeded, want an error")
	}
	var tooNew *SchemaTooNewError
	if want := knownVersion(t); !errors.As(err, &tooNew) || tooNew.Version != 9999 || tooNew.Known != want {
		t.Fatalf("Open = %v, want *SchemaTooNewError{9999, %d}", err, want)
	}
	t.Log(err)
}

func TestCheck(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Errorf("IntegrityCheck on a fresh database: %v", err)
	}
	// Check reads alongside an open writer, as doctor does next to a
	// running gateway.
	if err := Check(ctx, path); err != nil {
		t.Errorf("Check while open: %v", err)
	}
	db.Close()
	if err := Check(ctx, path); err != nil {
		t.Errorf("Check after close: %v", err)
	}
	// A read-only connection may leave a -wal and -shm behind; they must
	// not be looser than the database.
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode after Check = %v, want 0600", suffix, got)
		}
	}
}

func TestCheckMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	err := Check(t.Context(), path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check created the file: %v", err)
	}
}

func TestCheckDoesNotMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Check(t.Context(), path); err != nil {
		t.Fatalf("Check of an empty file: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 0 {
		t.Errorf("Check wrote %d bytes to an empty database", fi.Size())
	}
}

func TestCheckCorrupt(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	// Enough rows for many pages, so the middle of the file is b-tree.
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `CREATE INDEX filler_body ON filler (body)`); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO filler (body) VALUES (?)`, fmt.Sprintf("row %d %0200d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 64*1024 {
		t.Fatalf("database is %d bytes, too small to corrupt its middle", len(b))
	}
	for i := len(b)/2 - 2048; i < len(b)/2+2048; i++ {
		b[i] = 0xA5
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	err = Check(ctx, path)
	if err == nil {
		t.Fatal("Check of a corrupt file = nil, want an error")
	}
	var ie *IntegrityError
	if !errors.As(err, &ie) || len(ie.Problems) == 0 {
		t.Errorf("Check = %v, want an *IntegrityError listing problems", err)
	}
}

func TestMigrationsNaming(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   []string
		wantErr bool
	}{
		{"embedded", nil, false},
		{"ordered", []string{"0001_a.sql", "0002_b.sql"}, false},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, true},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, true},
		{"not_padded", []string{"1_a.sql"}, true},
		{"no_name", []string{"0001.sql"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fsys fs.FS = migrationFS
			if tt.files != nil {
				m := fstest.MapFS{}
				for _, f := range tt.files {
					m["migrations/"+f] = sql
				}
				fsys = m
			}
			_, err := migrations(fsys)
			if (err != nil) != tt.wantErr {
				t.Errorf("migrations(%v) error = %v, wantErr %v", tt.files, err, tt.wantErr)
			}
		})
	}
}

// TestCheckCorruptIndex damages one index page only, so SQLite can still
// read the file and integrity_check lists what it found.
func TestCheckCorruptIndex(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	for _, q := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`,
		`CREATE INDEX t_v ON t (v)`,
		`INSERT INTO t (v) VALUES ('alpha'), ('bravo'), ('charlie'), ('delta')`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var root, pageSize int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT rootpage FROM sqlite_schema WHERE name = 't_v'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Cells fill a page from its end: rewrite the last key's text.
	if _, err := f.WriteAt([]byte("zzzzz"), root*pageSize-5); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	err = Check(ctx, path)
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Err != nil || len(ie.Problems) == 0 {
		t.Fatalf("Check = %#v, want an *IntegrityError listing integrity_check's rows", err)
	}
	t.Log(err)
}

// knownVersion is the newest migration this binary has.
func knownVersion(t *testing.T) int {
	t.Helper()
	ms, err := migrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}
