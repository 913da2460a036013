package metadata

import (
	"context"
	"database/sql"
	"maps"
	"slices"
)

// txState is what a PostgreSQL transaction remembers until it ends (runTx
// forgets it): its changes to projects' storage_used, written last, and the
// repositories it has locked. A transaction runs on one goroutine.
type txState struct {
	usage  map[int64]int64
	locked map[int64]bool
}

func (db *DB) txState(tx *sql.Tx) *txState {
	if v, ok := db.txs.Load(tx); ok {
		return v.(*txState)
	}
	s := &txState{usage: map[int64]int64{}, locked: map[int64]bool{}}
	db.txs.Store(tx, s)
	return s
}

func (db *DB) forgetTx(tx *sql.Tx) { db.txs.Delete(tx) }

// A project's storage_used is one row that every push and every delete in
// the project updates. On PostgreSQL a row updated in a transaction stays
// locked until the transaction ends, so an update in the middle of one
// (a push before its blob and tag rows, a retention batch before its
// artifact deletes) made every other writer of the project queue behind
// all the statements after it: a 20,000-tag retention run spent a quarter
// of its time, and the pushes beside it 7 ms each, waiting there. The
// changes are therefore added up per transaction and written last, just
// before the commit (runTx), holding the row for the commit alone. On
// SQLite, where one writer runs at a time, they are written at once.

// addUsage adds delta bytes to project projectID's storage_used in tx.
func (db *DB) addUsage(ctx context.Context, tx *sql.Tx, projectID, delta int64) error {
	if delta == 0 {
		return nil
	}
	if db.writer != nil {
		_, err := db.hot(ctx, tx).Exec(`UPDATE projects SET storage_used = storage_used + ? WHERE id = ?`, delta, projectID)
		return err
	}
	db.txState(tx).usage[projectID] += delta
	return nil
}

// flushUsage writes the storage_used changes tx added up, in project order
// (one lock order); runTx calls it last before the commit.
func (db *DB) flushUsage(ctx context.Context, tx *sql.Tx) error {
	v, ok := db.txs.Load(tx)
	if !ok {
		return nil
	}
	deltas := v.(*txState).usage
	for _, id := range slices.Sorted(maps.Keys(deltas)) {
		if deltas[id] == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE projects SET storage_used = storage_used + ? WHERE id = ?`), deltas[id], id); err != nil {
			return err
		}
	}
	clear(deltas)
	return nil
}
