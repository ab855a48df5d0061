package store

import (
	"context"
	"database/sql"
	"sync"
)

// StmtCache prepares each distinct query once and reuses it: SQLite spends
// more time parsing a short statement than running it, and database/sql
// prepares afresh for every ExecContext on a *sql.DB. Its methods mirror
// *sql.DB's; Tx gives the same for a transaction. Safe for concurrent use.
type StmtCache struct {
	db *sql.DB

	mu sync.Mutex // guards m
	m  map[string]*sql.Stmt
}

// NewStmtCache returns a cache for db.
func NewStmtCache(db *sql.DB) *StmtCache {
	return &StmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// DB is the database the cache prepares on.
func (c *StmtCache) DB() *sql.DB { return c.db }

func (c *StmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	s, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		s.Close()
		return prev, nil
	}
	c.m[query] = s
	return s, nil
}

// ExecContext runs a statement.
func (c *StmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// QueryContext runs a query.
func (c *StmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (c *StmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(ctx, query)
	if err != nil {
		// The error surfaces from Scan, as with *sql.DB.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// Tx is the cache's view of a transaction: the same statements, run in tx.
func (c *StmtCache) Tx(tx *sql.Tx) CachedTx { return CachedTx{c: c, tx: tx} }

// CachedTx runs cached statements in a transaction.
type CachedTx struct {
	c  *StmtCache
	tx *sql.Tx
}

// ExecContext runs a statement in the transaction.
func (t CachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := t.c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
}

// QueryContext runs a query in the transaction.
func (t CachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
}

// QueryRowContext runs a one-row query in the transaction.
func (t CachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := t.c.stmt(ctx, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
}

// Close closes every cached statement.
func (c *StmtCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, s := range c.m {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}
