package metadata

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Storage sync rows (migration 008): what a committed change still has to
// write to storage. See registry/index/sync.go for who writes and clears them.

// Kinds of storage sync keys.
const (
	SyncTag      = "tag"
	SyncManifest = "manifest"
)

// SyncKey names one storage copy that follows the index: a tag's link or
// a manifest's revision link in a repository.
type SyncKey struct {
	Repository string
	Kind       string // SyncTag or SyncManifest
	Name       string // the tag or the digest
}

func (k SyncKey) String() string {
	if k.Kind == SyncTag {
		return k.Repository + ":" + k.Name
	}
	return k.Repository + "@" + k.Name
}

// Sync is a recorded key with its row.
type Sync struct {
	SyncKey
	ID        int64
	Owner     string
	CreatedAt time.Time
}

// AddSync records keys in a transaction of their own (a manifest push
// records its key before it writes storage) and returns their row ids.
func (db *DB) AddSync(ctx context.Context, owner string, keys ...SyncKey) ([]int64, error) {
	var ids []int64
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = db.addSyncTx(ctx, tx, owner, keys...)
		return err
	})
	return ids, err
}

// AddSyncTouch records keys (as AddSync) and marks b in use now, in one
// transaction: a manifest push does both before it stores its bytes, so a
// collector deleting them finishes first (the push stores them again) and
// one that comes later finds them fresh.
func (db *DB) AddSyncTouch(ctx context.Context, owner string, b Blob, keys ...SyncKey) ([]int64, error) {
	var ids []int64
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		var err error
		if ids, err = db.addSyncTx(ctx, tx, owner, keys...); err != nil {
			return err
		}
		_, err = db.touchBlobTx(ctx, tx, b, true)
		return err
	})
	return ids, err
}

func (db *DB) addSyncTx(ctx context.Context, q querier, owner string, keys ...SyncKey) ([]int64, error) {
	ids := make([]int64, 0, len(keys))
	now := millis(time.Now())
	if len(keys) == 1 { // a push's: the prepared statement
		var id int64
		k := keys[0]
		if err := db.hot(ctx, q).QueryRow(`INSERT INTO storage_sync (repository, kind, name, owner, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			k.Repository, k.Kind, k.Name, owner, now).Scan(&id); err != nil {
			return nil, fmt.Errorf("metadata: storage sync: %w", err)
		}
		return append(ids, id), nil
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		args := make([]any, 0, 5*n)
		for _, k := range keys[:n] {
			args = append(args, k.Repository, k.Kind, k.Name, owner, now)
		}
		// RETURNING promises no order: ids are paired with their keys by
		// value (a key listed twice has two rows; which id each gets does
		// not matter).
		rows, err := q.QueryContext(ctx, db.q(`INSERT INTO storage_sync (repository, kind, name, owner, created_at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", n), ",")+` RETURNING id, repository, kind, name`), args...)
		if err != nil {
			return nil, fmt.Errorf("metadata: storage sync: %w", err)
		}
		got := make(map[SyncKey][]int64, n)
		for rows.Next() {
			var id int64
			var k SyncKey
			if err := rows.Scan(&id, &k.Repository, &k.Kind, &k.Name); err != nil {
				rows.Close()
				return nil, fmt.Errorf("metadata: storage sync: %w", err)
			}
			got[k] = append(got[k], id)
		}
		if err := errors.Join(rows.Close(), rows.Err()); err != nil {
			return nil, fmt.Errorf("metadata: storage sync: %w", err)
		}
		for _, k := range keys[:n] {
			if len(got[k]) == 0 {
				return nil, fmt.Errorf("metadata: storage sync: no row returned for %s", k)
			}
			ids = append(ids, got[k][0])
			got[k] = got[k][1:]
		}
		keys = keys[n:]
	}
	return ids, nil
}

// DoneSync deletes rows whose storage copy their writer brought in line.
func (db *DB) DoneSync(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if _, err := db.exec(ctx, `DELETE FROM storage_sync WHERE id IN (`+placeholders(n)+`)`, args...); err != nil {
			return fmt.Errorf("metadata: storage sync done: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// OrphanedSync returns up to limit rows no live writer will finish, oldest
// first: those of writers that stopped heartbeating since staleAfter (or
// left the instances table), then, to fill the page, any row created
// before abandonedBefore.
// Every part reads an index: the writers one seek each (storage_sync_owner),
// the old rows by age, so a live writer's backlog of a million rows (a
// retention run's storage copies, see OwnSync) costs nothing to pass over.
// more says a stopped writer left at least limit rows (another call is due
// at once; the old rows of live writers are not counted: their writers
// may still be at them).
func (db *DB) OrphanedSync(ctx context.Context, staleAfter, abandonedBefore time.Time, limit int) (rows []Sync, more bool, err error) {
	liveIDs, err := db.strings(ctx, `SELECT id FROM instances WHERE heartbeat_at >= ?`, millis(staleAfter))
	if err != nil {
		return nil, false, fmt.Errorf("metadata: storage sync: %w", err)
	}
	owners, err := db.strings(ctx, syncOwners)
	if err != nil {
		return nil, false, fmt.Errorf("metadata: storage sync: %w", err)
	}
	dead := map[int64]Sync{}
	for _, o := range owners {
		if !slices.Contains(liveIDs, o) {
			if err := db.scanSync(ctx, dead, syncOwnAfter, o, 0, limit); err != nil {
				return nil, false, err
			}
		}
	}
	rows = byAge(dead)
	more = len(rows) >= limit
	rows = rows[:min(len(rows), limit)]
	if len(rows) == limit {
		return rows, more, nil
	}
	// Then, to fill the page, the old rows of any writer.
	old := map[int64]Sync{}
	if err := db.scanSync(ctx, old, syncOld, millis(abandonedBefore), limit); err != nil {
		return nil, false, err
	}
	for _, r := range rows {
		delete(old, r.ID)
	}
	rest := byAge(old)
	rows = append(rows, rest[:min(len(rest), limit-len(rows))]...)
	slices.SortFunc(rows, oldestFirst)
	return rows, more, nil
}

func oldestFirst(a, b Sync) int { return cmp.Compare(a.ID, b.ID) }

// byAge is rows by id, oldest first.
func byAge(rows map[int64]Sync) []Sync { return slices.SortedFunc(maps.Values(rows), oldestFirst) }

// OwnSync returns up to limit of owner's rows after id after, in id order:
// the backlog its drainer writes.
func (db *DB) OwnSync(ctx context.Context, owner string, after int64, limit int) ([]Sync, error) {
	byID := map[int64]Sync{}
	if err := db.scanSync(ctx, byID, syncOwnAfter, owner, after, limit); err != nil {
		return nil, err
	}
	return byAge(byID), nil
}

// PendingSync lists every row (for check), oldest first, at most limit.
func (db *DB) PendingSync(ctx context.Context, limit int) ([]Sync, error) {
	byID := map[int64]Sync{}
	if err := db.scanSync(ctx, byID, `ORDER BY id LIMIT ?`, limit); err != nil {
		return nil, err
	}
	return byAge(byID), nil
}

// The storage sync rows' queries, each through an index
// (TestSyncQueriesReadTheirIndexes): the writers that have rows, one seek
// each (a loose walk of storage_sync_owner); a writer's rows after an id;
// the rows older than a time. scanSync's take what follows its FROM.
const (
	syncOwners = `WITH RECURSIVE o(owner) AS (
			SELECT MIN(owner) FROM storage_sync
			UNION ALL
			SELECT (SELECT MIN(s.owner) FROM storage_sync s WHERE s.owner > o.owner) FROM o WHERE o.owner IS NOT NULL)
		SELECT owner FROM o WHERE owner IS NOT NULL`
	syncOwnAfter = `WHERE owner = ? AND id > ? ORDER BY id LIMIT ?`
	syncOld      = `WHERE created_at < ? ORDER BY created_at, id LIMIT ?`
	syncSelect   = `SELECT id, repository, kind, name, owner, created_at FROM storage_sync `
)

// scan runs a query on the read pool and calls each for every row.
func (db *DB) scan(ctx context.Context, query string, args []any, each func(*sql.Rows) error) error {
	rows, err := db.sql.QueryContext(ctx, db.q(query), args...)
	return eachRow(rows, err, each)
}

// scanSync adds the storage sync rows a query ending in where selects to
// into.
func (db *DB) scanSync(ctx context.Context, into map[int64]Sync, where string, args ...any) error {
	err := db.scan(ctx, syncSelect+where, args, func(r *sql.Rows) error {
		var s Sync
		var at int64
		if err := r.Scan(&s.ID, &s.Repository, &s.Kind, &s.Name, &s.Owner, &at); err != nil {
			return err
		}
		s.CreatedAt = fromMillis(at)
		into[s.ID] = s
		return nil
	})
	if err != nil {
		return fmt.Errorf("metadata: storage sync: %w", err)
	}
	return nil
}

// Heartbeat records that instance id (started at started) is alive.
func (db *DB) Heartbeat(ctx context.Context, id string, started time.Time) error {
	_, err := db.execHot(ctx, `INSERT INTO instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, id, millis(started), millis(time.Now()))
	if err != nil {
		return fmt.Errorf("metadata: heartbeat: %w", err)
	}
	return nil
}

// Instance is a running (or crashed) berth process.
type Instance struct {
	ID        string
	Started   time.Time
	Heartbeat time.Time
}

// Instances lists the processes that heartbeat since after.
func (db *DB) Instances(ctx context.Context, after time.Time) ([]Instance, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT id, started_at, heartbeat_at FROM instances WHERE heartbeat_at >= ? ORDER BY started_at`), millis(after))
	if err != nil {
		return nil, fmt.Errorf("metadata: instances: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		var in Instance
		var s, h int64
		if err := rows.Scan(&in.ID, &s, &h); err != nil {
			return nil, err
		}
		in.Started, in.Heartbeat = fromMillis(s), fromMillis(h)
		out = append(out, in)
	}
	return out, rows.Err()
}

// RemoveInstances forgets instances that stopped heartbeating before
// before, and id itself when it is not empty (a clean shutdown).
func (db *DB) RemoveInstances(ctx context.Context, id string, before time.Time) error {
	where, args := []string{"heartbeat_at < ?"}, []any{millis(before)}
	if id != "" {
		where, args = append(where, "id = ?"), append(args, id)
	}
	_, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM instances WHERE `+strings.Join(where, " OR ")), args...)
	return err
}
