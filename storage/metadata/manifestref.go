package metadata

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// ManifestResolver resolves manifest references with statements prepared
// once, for the hot manifest path.
type ManifestResolver struct {
	byTag, byDigest *sql.Stmt
	version         *dataVersion // nil on PostgreSQL
}

// ManifestResolver prepares the two lookups of ManifestDigest and, on
// SQLite, the change check of DataVersion.
func (db *DB) ManifestResolver(ctx context.Context) (*ManifestResolver, error) {
	byTag, err := db.sql.PrepareContext(ctx, db.q(`SELECT a.digest FROM repositories r
		JOIN tags t ON t.repository_id = r.id JOIN artifacts a ON a.id = t.artifact_id
		WHERE r.name = ? AND t.name = ?`))
	if err != nil {
		return nil, fmt.Errorf("metadata: prepare manifest lookup: %w", err)
	}
	byDigest, err := db.sql.PrepareContext(ctx, db.q(`SELECT a.digest FROM repositories r
		JOIN artifacts a ON a.repository_id = r.id WHERE r.name = ? AND a.digest = ?`))
	if err != nil {
		byTag.Close()
		return nil, fmt.Errorf("metadata: prepare manifest lookup: %w", err)
	}
	m := &ManifestResolver{byTag: byTag, byDigest: byDigest}
	if db.d.name == sqliteDialect.name {
		if m.version, err = newDataVersion(ctx, db.sql); err != nil {
			_ = m.Close()
			return nil, err
		}
	}
	return m, nil
}

// ManifestDigest resolves a manifest reference of a repository in one
// indexed query: a tag to the digest it names now, or a digest to itself
// when the repository still holds that artifact. It is what a manifest GET
// asks the index, which the registry middleware writes before a push or
// delete answers, so every replica sees a moved tag or a deleted manifest
// at once. An unknown repository, tag or digest is ErrNotFound.
func (m *ManifestResolver) ManifestDigest(ctx context.Context, repo, ref string, byDigest bool) (string, error) {
	stmt := m.byTag
	if byDigest {
		stmt = m.byDigest
	}
	var d string
	err := stmt.QueryRowContext(ctx, repo, ref).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("manifest %s %s: %w", repo, ref, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("metadata: resolve manifest: %w", err)
	}
	return d, nil
}

// Version identifies the state of a SQLite database: two equal Versions
// read at different times mean nothing was committed in between.
type Version struct {
	hdr [walHdrSize]byte // the WAL-index header, when readable
	n   int64            // else PRAGMA data_version
}

// DataVersion reports a Version that changes whenever any connection, in
// this process or another one sharing the SQLite file, has committed a
// write since it was last read. A ManifestDigest answer obtained after
// reading version v is current for as long as DataVersion still returns v.
// ok is false on PostgreSQL, where nothing this cheap exists: resolve every
// time there.
func (m *ManifestResolver) DataVersion(ctx context.Context) (v Version, ok bool, err error) {
	if m.version == nil {
		return Version{}, false, nil
	}
	v, err = m.version.read(ctx)
	return v, err == nil, err
}

// Close releases the prepared statements and the data-version connection.
func (m *ManifestResolver) Close() error {
	err := errors.Join(m.byTag.Close(), m.byDigest.Close())
	if m.version != nil {
		err = errors.Join(err, m.version.close())
	}
	return err
}

// walHdrSize is the size of one copy of the WAL-index header at the start
// of the -shm file (https://www.sqlite.org/walformat.html, 2.2.1). Every
// commit rewrites it (iChange, mxFrame, salts, checksum), second copy
// first, and a commit is visible to readers exactly when it is rewritten.
const walHdrSize = 48

// dataVersion tells whether the database changed. It keeps one connection
// of its own open, which never writes: while it is open the -shm file
// cannot be removed or reset by another connection, and its WAL-index
// header is read with one pread and no lock (both copies equal: not torn).
// When that cannot be read (not in WAL mode, no -shm file, a torn read) it
// asks SQLite: PRAGMA data_version on that connection, which moves when
// another connection has committed, at the price of a read transaction.
type dataVersion struct {
	mu   sync.Mutex
	conn *sql.Conn
	shm  *os.File // nil: PRAGMA data_version only
	stmt driver.Stmt
	vals []driver.Value
	ctx  context.Context
	v    int64
	run  func(any) error // bound once: no closure per read
}

func newDataVersion(ctx context.Context, db *sql.DB) (*dataVersion, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata: data version connection: %w", err)
	}
	dv := &dataVersion{conn: conn, vals: make([]driver.Value, 1)}
	dv.run = dv.query
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("driver cannot prepare")
		}
		dv.stmt, err = pc.PrepareContext(ctx, "PRAGMA data_version")
		return err
	})
	if err == nil {
		dv.ctx = ctx
		err = conn.Raw(dv.run) // opens the WAL index of this connection
		dv.ctx = nil
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("metadata: prepare data version: %w", err)
	}
	var mode, path string
	if conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode) == nil && strings.EqualFold(mode, "wal") &&
		conn.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path) == nil && path != "" {
		if f, err := os.Open(path + "-shm"); err == nil {
			dv.shm = f
		}
	}
	return dv, nil
}

func (dv *dataVersion) read(ctx context.Context) (Version, error) {
	var buf [2 * walHdrSize]byte
	if dv.shm != nil {
		if n, err := dv.shm.ReadAt(buf[:], 0); n == len(buf) && err == nil &&
			[walHdrSize]byte(buf[:walHdrSize]) == [walHdrSize]byte(buf[walHdrSize:]) {
			return Version{hdr: [walHdrSize]byte(buf[:walHdrSize])}, nil
		}
	}
	dv.mu.Lock()
	defer dv.mu.Unlock()
	dv.ctx = ctx
	err := dv.conn.Raw(dv.run)
	dv.ctx = nil
	if err != nil {
		return Version{}, fmt.Errorf("metadata: data version: %w", err)
	}
	return Version{n: dv.v}, nil
}

// query runs inside conn.Raw with dv.mu held. Closing the rows resets the
// statement, so the connection holds no read transaction between checks
// (which would pin the WAL and hide later commits).
func (dv *dataVersion) query(any) error {
	q, ok := dv.stmt.(driver.StmtQueryContext)
	if !ok {
		return errors.New("driver cannot query")
	}
	rows, err := q.QueryContext(dv.ctx, nil)
	if err != nil {
		return err
	}
	err = rows.Next(dv.vals)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err == io.EOF {
		return errors.New("no row")
	}
	if err != nil {
		return err
	}
	v, ok := dv.vals[0].(int64)
	if !ok {
		return fmt.Errorf("unexpected %T", dv.vals[0])
	}
	dv.v = v
	return nil
}

func (dv *dataVersion) close() error {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	if dv.shm != nil {
		_ = dv.shm.Close()
	}
	_ = dv.conn.Raw(func(any) error { return dv.stmt.Close() })
	return dv.conn.Close()
}
