package metadata

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// DefaultTimeout bounds each database call when Open is given none.
const DefaultTimeout = 5 * time.Second

// Every statement, transaction and connection attempt is bounded here, in
// one place, by wrapping the driver: a paused or unreachable database makes
// calls fail with context.DeadlineExceeded after the timeout instead of
// hanging for as long as it is paused. A statement's deadline covers reading
// its rows (cancelled when they are closed); a transaction's covers it from
// BEGIN to COMMIT. Maintenance that legitimately runs longer (migrations,
// reindex, recounts) asks for its own bound with WithTimeout.

type timeoutKey struct{}

// WithTimeout returns a context in which database calls are bounded by d
// instead of the database's timeout (d <= 0: bounded only by ctx).
func WithTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, timeoutKey{}, d)
}

// IsTimeout reports whether err is a database call that ran out of time.
func IsTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

type bound struct{ timeout time.Duration }

// ctx derives the context one call runs under.
func (b bound) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	d := b.timeout
	if v, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
		d = v
	}
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// boundConnector opens connections whose calls are bounded.
type boundConnector struct {
	inner driver.Connector
	bound
	// setup runs on every new connection (session settings).
	setup []string
}

func (c *boundConnector) Connect(ctx context.Context) (driver.Conn, error) {
	ctx, cancel := c.bound.ctx(ctx)
	defer cancel()
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if len(c.setup) > 0 {
		ex, ok := conn.(driver.ExecerContext)
		if !ok {
			_ = conn.Close()
			return nil, errors.New("metadata: the driver cannot run a connection's setup")
		}
		for _, stmt := range c.setup {
			if _, err := ex.ExecContext(ctx, stmt, nil); err != nil {
				_ = conn.Close()
				return nil, fmt.Errorf("metadata: connection setup %q: %w", stmt, err)
			}
		}
	}
	return &boundConn{Conn: conn, bound: c.bound}, nil
}

func (c *boundConnector) Driver() driver.Driver { return c.inner.Driver() }

// dsnConnector is a connector for drivers that have none.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// openBounded opens a pool for the registered driver name whose calls are
// bounded by timeout.
func openBounded(name, dsn string, timeout time.Duration, setup ...string) (*sql.DB, error) {
	probe, err := sql.Open(name, dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	_ = probe.Close() // opened no connection
	var inner driver.Connector = dsnConnector{dsn: dsn, drv: drv}
	if dc, ok := drv.(driver.DriverContext); ok {
		if inner, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(&boundConnector{inner: inner, bound: bound{timeout}, setup: setup}), nil
}

// boundConn bounds the calls of one connection. Optional interfaces the
// driver lacks answer driver.ErrSkip (or the neutral value), which makes
// database/sql take the path it would have taken without the wrapper.
type boundConn struct {
	driver.Conn
	bound
}

// Raw is the driver's own connection (for sql.Conn.Raw users that need it).
func (c *boundConn) Raw() driver.Conn { return c.Conn }

func (c *boundConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if pc, ok := c.Conn.(driver.ConnPrepareContext); ok {
		ctx, cancel := c.bound.ctx(ctx)
		s, err = pc.PrepareContext(ctx, query)
		cancel()
	} else {
		s, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &boundStmt{Stmt: s, bound: c.bound, writes: writes(query)}, nil
}

func (c *boundConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	ctx, cancel := c.bound.ctx(ctx)
	var tx driver.Tx
	var err error
	if bt, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = bt.BeginTx(ctx, opts)
	} else {
		//lint:ignore SA1019 the fallback for drivers without BeginTx
		tx, err = c.Conn.Begin()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &boundTx{Tx: tx, cancel: cancel}, nil
}

func (c *boundConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	bctx, cancel := c.bound.ctx(ctx)
	defer cancel()
	res, err := ec.ExecContext(bctx, query, args)
	markExec(ctx, res, err)
	return res, err
}

func (c *boundConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if writes(query) {
		markWrote(ctx)
	}
	ctx, cancel := c.bound.ctx(ctx)
	rows, err := qc.QueryContext(ctx, query, args)
	if err != nil {
		cancel()
		return nil, err
	}
	return &boundRows{Rows: rows, cancel: cancel}, nil
}

func (c *boundConn) Ping(ctx context.Context) error {
	p, ok := c.Conn.(driver.Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := c.bound.ctx(ctx)
	defer cancel()
	return p.Ping(ctx)
}

func (c *boundConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		ctx, cancel := c.bound.ctx(ctx)
		defer cancel()
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *boundConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *boundConn) CheckNamedValue(nv *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// boundTx ends the transaction's deadline with it.
type boundTx struct {
	driver.Tx
	cancel context.CancelFunc
}

func (t *boundTx) Commit() error {
	defer t.cancel()
	return t.Tx.Commit()
}

func (t *boundTx) Rollback() error {
	defer t.cancel()
	return t.Tx.Rollback()
}

// boundRows ends the statement's deadline when its rows are closed.
type boundRows struct {
	driver.Rows
	cancel context.CancelFunc
}

func (r *boundRows) Close() error {
	defer r.cancel()
	return r.Rows.Close()
}

// boundStmt bounds the executions of a prepared statement.
type boundStmt struct {
	driver.Stmt
	bound
	writes bool // a query that writes (INSERT ... RETURNING)
}

func (s *boundStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.exec(ctx, args)
	markExec(ctx, res, err)
	return res, err
}

func (s *boundStmt) exec(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, cancel := s.bound.ctx(ctx)
	defer cancel()
	if ec, ok := s.Stmt.(driver.StmtExecContext); ok {
		return ec.ExecContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 the fallback for drivers without StmtExecContext
	return s.Stmt.Exec(vals)
}

func (s *boundStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.writes {
		markWrote(ctx)
	}
	ctx, cancel := s.bound.ctx(ctx)
	var rows driver.Rows
	var err error
	if qc, ok := s.Stmt.(driver.StmtQueryContext); ok {
		rows, err = qc.QueryContext(ctx, args)
	} else if vals, verr := values(args); verr != nil {
		err = verr
	} else {
		//lint:ignore SA1019 the fallback for drivers without StmtQueryContext
		rows, err = s.Stmt.Query(vals)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &boundRows{Rows: rows, cancel: cancel}, nil
}

func (s *boundStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if nc, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("metadata: driver does not support named parameters")
		}
		out[i] = a.Value
	}
	return out, nil
}
