package metadata

import (
	"context"
	"database/sql"
)

// Prepared statements of the push path (SQLite), and the querier they run on.

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// prepared is query (with ? placeholders) prepared once on SQLite, where
// parsing a statement costs as much as running one of the index's small
// queries; nil on PostgreSQL or when preparing fails (the caller then runs
// the text).
func (db *DB) prepared(ctx context.Context, query string) *sql.Stmt {
	if db.d.name != "sqlite" {
		return nil
	}
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	s, err := db.sql.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if old, loaded := db.stmts.LoadOrStore(query, s); loaded {
		_ = s.Close()
		return old.(*sql.Stmt)
	}
	return s
}

// hot runs the statements of the push path through prepared statements
// (see prepared) on q, the database or a transaction.
type hot struct {
	db  *DB
	ctx context.Context
	q   querier
}

func (db *DB) hot(ctx context.Context, q querier) hot { return hot{db: db, ctx: ctx, q: q} }

func (h hot) stmt(query string) *sql.Stmt {
	s := h.db.prepared(h.ctx, query)
	if tx, ok := h.q.(*sql.Tx); ok && s != nil {
		return tx.StmtContext(h.ctx, s)
	}
	return s
}

func (h hot) QueryRow(query string, args ...any) *sql.Row {
	if s := h.stmt(query); s != nil {
		return s.QueryRowContext(h.ctx, args...)
	}
	return h.q.QueryRowContext(h.ctx, h.db.q(query), args...)
}

func (h hot) Query(query string, args ...any) (*sql.Rows, error) {
	if s := h.stmt(query); s != nil {
		return s.QueryContext(h.ctx, args...)
	}
	return h.q.QueryContext(h.ctx, h.db.q(query), args...)
}

func (h hot) Exec(query string, args ...any) (sql.Result, error) {
	if s := h.stmt(query); s != nil {
		return s.ExecContext(h.ctx, args...)
	}
	return h.q.ExecContext(h.ctx, h.db.q(query), args...)
}
