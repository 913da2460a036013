package metadata

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Replicas of a Deployment start together on an empty PostgreSQL database:
// every one of them opens it (and migrates it) without an error.
func TestConcurrentOpenOnEmptyPostgres(t *testing.T) {
	for round := range 3 {
		dsn := berthtest.SharedPostgres(t).NewDatabase(t)
		const replicas = 6
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := Open(context.Background(), dsn, 0)
				if err == nil {
					db.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: concurrent Open: %v", round, err)
		}
		db, err := Open(context.Background(), dsn, 0)
		if err != nil {
			t.Fatal(err)
		}
		migs, _ := loadMigrations()
		v, err := db.SchemaVersion(context.Background())
		db.Close()
		if err != nil || v != migs[len(migs)-1].version {
			t.Fatalf("round %d: schema version %d %v, want %d", round, v, err, migs[len(migs)-1].version)
		}
	}
}
