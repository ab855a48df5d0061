package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded migrations/NNNN_name.sql file.
type migration struct {
	version int
	name    string
	sql     string
}

// SchemaTooNewError reports a database migrated by a newer gatehouse.
type SchemaTooNewError struct {
	Version int // highest version recorded in the database
	Known   int // highest version this binary has
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("schema version %d is newer than this gatehouse knows (%d): upgrade gatehouse", e.Version, e.Known)
}

// migrations returns the embedded migrations in order. Versions must run
// 1, 2, 3… without gaps, so that two branches adding the same number clash
// in tests rather than in an owner's database.
func migrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	// fs.Glob returns names sorted, and the versions are zero-padded.
	ms := make([]migration, 0, len(names))
	for i, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || label == "" {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		if v != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (no gaps or duplicates)", name, v, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: label, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the pending migrations, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations(migrationFS)
	if err != nil {
		return fmt.Errorf("embedded migrations: %w", err)
	}
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT,
		applied_at TEXT
	)`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	cur, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if known := len(ms); cur > known {
		return &SchemaTooNewError{Version: cur, Known: known}
	}
	for _, m := range ms[cur:] {
		if err := apply(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs m unless another connection, or another process, applied it
// first: the transaction begins IMMEDIATE, so the version read inside it
// stays true until commit.
func apply(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	defer tx.Rollback()
	var done bool
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version).Scan(&done)
	if err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at)
		 VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`, m.version, m.name)
	if err != nil {
		return fmt.Errorf("record migration %04d_%s: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	return nil
}

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
