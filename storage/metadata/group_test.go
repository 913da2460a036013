package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The writer (group.go): writes sharing a transaction are each all or
// nothing, a failed one takes nobody else with it unless the transaction
// itself broke, and none is ever run twice.

func groupTestDB(t *testing.T) *DB {
	db := openTestDB(t, "sqlite")
	if _, err := db.sql.Exec(`CREATE TABLE gt (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func gtCount(t *testing.T, db *DB, where string) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRow(`SELECT count(*) FROM gt WHERE ` + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// holdWriter keeps the writer busy with a write of its own until release
// is closed, so the writes asked meanwhile queue and then share one
// transaction.
func holdWriter(t *testing.T, db *DB) (release func(), done <-chan error) {
	started, rel, out := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		out <- db.tx(context.Background(), func(tx *sql.Tx) error {
			close(started)
			<-rel
			return nil
		})
	}()
	<-started
	return func() { close(rel) }, out
}

// queued waits until n writes wait for the writer.
func queued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db.writer.mu.Lock()
		got := len(db.writer.queue)
		db.writer.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriterSharedTransaction(t *testing.T) {
	type step struct {
		key  string
		fail string // "": insert and succeed; "error": insert, then fail; "panic": insert, then panic; "break": end the transaction under the writer
	}
	for _, tc := range []struct {
		name        string
		steps       []step
		wantRows    []string // keys committed
		wantErr     map[string]string
		wantTx      int // transactions the writes took
		wantPanicky string
	}{
		{name: "all succeed", steps: []step{{"a", ""}, {"b", ""}, {"c", ""}}, wantRows: []string{"a", "b", "c"}, wantTx: 1},
		{name: "one fails alone", steps: []step{{"a", ""}, {"b", "error"}, {"c", ""}}, wantRows: []string{"a", "c"},
			wantErr: map[string]string{"b": "refused b"}, wantTx: 1},
		{name: "the first fails alone", steps: []step{{"a", "error"}, {"b", ""}, {"c", ""}}, wantRows: []string{"b", "c"},
			wantErr: map[string]string{"a": "refused a"}, wantTx: 2},
		{name: "a panic is the asker's, and only its", steps: []step{{"a", ""}, {"b", "panic"}, {"c", ""}}, wantRows: []string{"a", "c"},
			wantPanicky: "b", wantTx: 1},
		{name: "a broken transaction fails every write in it", steps: []step{{"a", ""}, {"b", "break"}, {"c", ""}}, wantRows: []string{"c"},
			wantErr: map[string]string{"a": "sharing the transaction failed", "b": "broke"}, wantTx: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := groupTestDB(t)
			batches0, writes0 := db.writeGrouping()
			release, held := holdWriter(t, db)
			type result struct {
				key      string
				err      error
				panicked any
			}
			results := make(chan result, len(tc.steps))
			runs := map[string]int{}
			var mu sync.Mutex
			for i, s := range tc.steps {
				go func() {
					var r result
					r.key = s.key
					defer func() {
						r.panicked = recover()
						results <- r
					}()
					r.err = db.txShared(context.Background(), func(tx *sql.Tx) error {
						mu.Lock()
						runs[s.key]++
						mu.Unlock()
						if _, err := tx.Exec(`INSERT INTO gt (k, v) VALUES (?, 1)`, s.key); err != nil {
							return err
						}
						switch s.fail {
						case "error":
							return fmt.Errorf("refused %s", s.key)
						case "panic":
							panic("panicked " + s.key)
						case "break":
							if _, err := tx.Exec(`ROLLBACK`); err != nil {
								return err
							}
							return errors.New("broke")
						}
						return nil
					})
				}()
				queued(t, db, i+1) // in this order
			}
			release()
			if err := <-held; err != nil {
				t.Fatal(err)
			}
			for range tc.steps {
				r := <-results
				switch {
				case r.key == tc.wantPanicky:
					if r.panicked != "panicked "+r.key {
						t.Errorf("%s: panicked %v, want its own panic", r.key, r.panicked)
					}
				case r.panicked != nil:
					t.Errorf("%s: panicked %v", r.key, r.panicked)
				case tc.wantErr[r.key] == "" && r.err != nil:
					t.Errorf("%s: %v", r.key, r.err)
				case tc.wantErr[r.key] != "" && (r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr[r.key])):
					t.Errorf("%s: error %v, want one saying %q", r.key, r.err, tc.wantErr[r.key])
				}
			}
			for _, s := range tc.steps {
				if runs[s.key] != 1 {
					t.Errorf("%s ran %d times, want once", s.key, runs[s.key])
				}
			}
			if got := gtCount(t, db, "1=1"); got != len(tc.wantRows) {
				t.Errorf("%d rows committed, want %v", got, tc.wantRows)
			}
			for _, k := range tc.wantRows {
				if gtCount(t, db, "k = '"+k+"'") != 1 {
					t.Errorf("%s not committed", k)
				}
			}
			batches, writes := db.writeGrouping()
			if writes-writes0 != int64(len(tc.steps)+1) {
				t.Errorf("writer ran %d writes, want %d", writes-writes0, len(tc.steps)+1)
			}
			if batches-batches0 != int64(1+tc.wantTx) {
				t.Errorf("%d transactions for the held write and %d shared ones, want 1 + %d", batches-batches0, len(tc.steps), tc.wantTx)
			}
		})
	}
}

// A write asked while another (not shared) runs waits for it, and one
// that runs alone never shares its transaction.
func TestWriterAloneWritesDoNotShare(t *testing.T) {
	db := groupTestDB(t)
	release, held := holdWriter(t, db)
	errs := make(chan error, 3)
	for i, k := range []string{"a", "b", "c"} {
		go func() {
			errs <- db.tx(context.Background(), func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO gt (k, v) VALUES (?, 1)`, k)
				return err
			})
		}()
		queued(t, db, i+1)
	}
	b0, _ := db.writeGrouping()
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := db.writeGrouping(); b-b0 != 3 {
		t.Errorf("%d transactions for three writes alone, want 3", b-b0)
	}
}

// A write whose bound runs out while it queues is abandoned, never run;
// closing the database lets the writes queued finish and refuses new ones.
func TestWriterAbandonAndClose(t *testing.T) {
	db := groupTestDB(t)
	release, held := holdWriter(t, db)
	ran := make(chan string, 2)
	ctx := WithTimeout(context.Background(), 50*time.Millisecond)
	err := db.txShared(ctx, func(tx *sql.Tx) error { ran <- "abandoned"; return nil })
	if !IsTimeout(err) || !strings.Contains(err.Error(), "waiting for the write lock") {
		t.Fatalf("abandoned write: %v", err)
	}
	late := make(chan error, 1)
	go func() {
		late <- db.txShared(context.Background(), func(tx *sql.Tx) error { ran <- "queued"; return nil })
	}()
	queued(t, db, 2)
	go func() { time.Sleep(50 * time.Millisecond); release() }()
	db.Close()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-late; err != nil {
		t.Fatalf("write queued at close: %v", err)
	}
	if got := <-ran; got != "queued" || len(ran) != 0 {
		t.Fatalf("ran %q and %d more, want only the write queued at close", got, len(ran))
	}
	if err := db.tx(context.Background(), func(*sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// Many concurrent shared writers: every increment lands exactly once.
func TestWriterConcurrentShared(t *testing.T) {
	db := groupTestDB(t)
	if _, err := db.sql.Exec(`INSERT INTO gt (k, v) VALUES ('n', 0)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if _, err := db.exec(context.Background(), `UPDATE gt SET v = v + 1 WHERE k = ?`, "n"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var v int
	if err := db.sql.QueryRow(`SELECT v FROM gt WHERE k = 'n'`).Scan(&v); err != nil || v != 800 {
		t.Fatalf("counter %d (%v), want 800", v, err)
	}
	b, w := db.writeGrouping()
	t.Logf("%d writes in %d transactions", w, b)
}

// A write interrupted mid-statement (its asker went away) may take the
// shared transaction down with it (SQLite rolls back a transaction whose
// write statement is interrupted): whatever happens, every other write's
// answer matches what was committed.
func TestWriterInterruptedWrite(t *testing.T) {
	db := groupTestDB(t)
	release, held := holdWriter(t, db)
	type result struct {
		key string
		err error
	}
	results := make(chan result, 3)
	insert := func(ctx context.Context, key, query string) {
		results <- result{key, db.txShared(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, query)
			return err
		})}
	}
	go insert(context.Background(), "a", `INSERT INTO gt (k, v) VALUES ('a', 1)`)
	queued(t, db, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go insert(ctx, "b", `INSERT INTO gt (k, v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000)
		SELECT 'b' || i, i FROM n`)
	queued(t, db, 2)
	go insert(context.Background(), "c", `INSERT INTO gt (k, v) VALUES ('c', 1)`)
	queued(t, db, 3)
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // b is inserting its rows by now
	cancel()
	for range 3 {
		r := <-results
		switch r.key {
		case "b":
			if r.err == nil {
				t.Fatal("the interrupted write succeeded")
			}
			if n := gtCount(t, db, "k LIKE 'b%'"); n != 0 {
				t.Fatalf("the interrupted write left %d rows", n)
			}
		default:
			if n := gtCount(t, db, "k = '"+r.key+"'"); (r.err == nil) != (n == 1) {
				t.Fatalf("%s: answered %v, %d rows committed", r.key, r.err, n)
			}
			t.Logf("%s: %v", r.key, r.err)
		}
	}
}
