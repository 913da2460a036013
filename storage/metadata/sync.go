package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// OrphanedSync returns up to limit rows no live writer will finish: those
// of instances that stopped heartbeating since staleAfter, and any row
// created before abandonedBefore (a writer gives up long before that).
func (db *DB) OrphanedSync(ctx context.Context, staleAfter, abandonedBefore time.Time, limit int) ([]Sync, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT id, repository, kind, name, owner, created_at FROM storage_sync s
		WHERE created_at < ? OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = s.owner AND i.heartbeat_at >= ?)
		ORDER BY id LIMIT ?`), millis(abandonedBefore), millis(staleAfter), limit)
	if err != nil {
		return nil, fmt.Errorf("metadata: storage sync: %w", err)
	}
	defer rows.Close()
	var out []Sync
	for rows.Next() {
		var s Sync
		var at int64
		if err := rows.Scan(&s.ID, &s.Repository, &s.Kind, &s.Name, &s.Owner, &at); err != nil {
			return nil, err
		}
		s.CreatedAt = fromMillis(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// PendingSync lists every row (for check), oldest first, at most limit.
func (db *DB) PendingSync(ctx context.Context, limit int) ([]Sync, error) {
	return db.OrphanedSync(ctx, time.Now().Add(100*365*24*time.Hour), time.Now().Add(time.Hour), limit)
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
