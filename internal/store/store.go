package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// fileMode is the mode of the database file and its -wal and -shm companions.
const fileMode = 0o600

// DB is an open, migrated Gatehouse database. It is safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string
	// writes serialises the process's write transactions: SQLite admits
	// one writer, and a writer that finds the lock taken sleeps in its busy
	// handler (milliseconds), which a mutex turns into a short wait.
	writes sync.Mutex
}

// WriteLock is the lock every write transaction of this process takes.
func (d *DB) WriteLock() sync.Locker { return &d.writes }

// Open opens the database at path, creating it with mode 0600 if it does not
// exist, and applies any pending migrations. The directory must exist.
//
// Every connection runs in WAL mode with a 5 s busy timeout, foreign keys on
// and synchronous=NORMAL. Write transactions begin IMMEDIATE, so two writers
// queue on the busy timeout instead of failing with SQLITE_BUSY when a read
// turns into a write.
//
// Open refuses a database whose schema is newer than this binary knows, with
// a *SchemaTooNewError.
func Open(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	sqldb, err := sql.Open("sqlite", dsn(abs, q))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	// Keep connections (and the statements prepared on them) instead of
	// reopening SQLite under load: database/sql keeps only 2 idle by default.
	sqldb.SetMaxIdleConns(8)
	d := &DB{db: sqldb, path: abs}
	if err := d.init(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	return d, nil
}

// init connects, migrates and tightens the modes of the files SQLite made.
func (d *DB) init(ctx context.Context) error {
	if err := d.connect(ctx); err != nil {
		return fmt.Errorf("open database %s (is it a SQLite file? gatehouse doctor checks it): %w", d.path, err)
	}
	if err := migrate(ctx, d.db); err != nil {
		return fmt.Errorf("database %s: %w", d.path, err)
	}
	// SQLite creates -wal and -shm with the main file's mode whatever the
	// umask, but a database copied in from elsewhere may not be 0600 and its
	// companions would follow it. doctor fixes the main file; these are ours.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(d.path+suffix, fileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict database file: %w", err)
		}
	}
	return nil
}

// connect makes the first connection, retrying while it is busy.
//
// The first connection to a new file switches it to WAL, which needs an
// exclusive lock that SQLite takes without waiting out busy_timeout: another
// connection, or process, opening the same new file at that moment gets
// SQLITE_BUSY. Once the file is in WAL mode (which it keeps), this passes at
// once.
func (d *DB) connect(ctx context.Context) error {
	const budget = 5 * time.Second // as busy_timeout
	deadline := time.Now().Add(budget)
	wait := 5 * time.Millisecond
	for {
		err := d.db.PingContext(ctx)
		if !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// createFile creates path with mode 0600 unless it exists already.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database (does its directory exist? gatehouse doctor --fix creates it): %w", err)
	}
	// The umask can only have removed bits; make the mode exact.
	err = f.Chmod(fileMode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	return nil
}

// dsn returns a file: URI for the absolute path abs. As a URI, SQLite itself
// reads parameters such as mode=ro, and the path is escaped, so a '?' or '#'
// in a directory name cannot turn into a parameter.
func dsn(abs string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// SQL returns the underlying pool, for the packages that keep their tables
// here.
func (d *DB) SQL() *sql.DB { return d.db }

// Close closes the database. The last connection to close checkpoints the
// WAL into the main file.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", d.path, err)
	}
	return nil
}

// SchemaVersion returns the highest migration applied, 0 for none.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, d.db)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// GetMeta returns the value stored under key, and whether there was one.
func (d *DB) GetMeta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read meta %q: %w", key, err)
	}
	return v, true, nil
}

// SetMeta stores value under key, replacing any earlier value.
func (d *DB) SetMeta(ctx context.Context, key, value string) error {
	_, err := d.db.ExecContext(ctx,
		`INSERT INTO meta (key, value) VALUES (?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write meta %q: %w", key, err)
	}
	return nil
}

// IntegrityError reports a corrupt database: the problems PRAGMA
// integrity_check listed, or the error SQLite gave when it could not even
// read far enough to list them.
type IntegrityError struct {
	Path     string
	Problems []string
	Err      error // the SQLite error, when the check itself failed
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("database %s is corrupt (%s): stop the gateway and restore it from a backup",
		e.Path, strings.Join(e.Problems, "; "))
}

func (e *IntegrityError) Unwrap() error { return e.Err }

// IntegrityCheck runs PRAGMA integrity_check and returns an *IntegrityError
// unless SQLite answers "ok".
func (d *DB) IntegrityCheck(ctx context.Context) error {
	return integrityCheck(ctx, d.db, d.path)
}

func integrityCheck(ctx context.Context, db *sql.DB, path string) error {
	var problems []string
	err := func() error {
		rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			problems = append(problems, s)
		}
		return rows.Err()
	}()
	if isCorrupt(err) {
		return &IntegrityError{Path: path, Problems: []string{err.Error()}, Err: err}
	}
	if err != nil {
		return fmt.Errorf("check database %s: %w", path, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return &IntegrityError{Path: path, Problems: problems}
}

// Check opens the database at path read-only, without creating or migrating
// it, and runs the integrity check, for gatehouse doctor. It is safe while
// the gateway runs. A missing file is an error wrapping fs.ErrNotExist.
func Check(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("check database %s: %w", path, err)
	}
	// mode=ro alone would not create the file, but says only "unable to
	// open database file"; stat first for an error callers can branch on.
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("check database: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", dsn(abs, q))
	if err != nil {
		return fmt.Errorf("check database %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// A read-only connection may leave a -wal and -shm behind, which the
	// gateway's next close removes. SQLite gives them the main file's mode,
	// which doctor checks.
	return integrityCheck(ctx, db, abs)
}

// isBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// isCorrupt reports whether err is SQLite saying the file is damaged or is
// not a database at all.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code; the rest says where
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}
