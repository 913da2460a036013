package registry

import (
	"context"
	"fmt"
	"log/slog"

	diststorage "github.com/distribution/distribution/v3/registry/storage"

	"github.com/berth-registry/berth/registry/gc"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// Offline is storage and the metadata database opened without serving, for
// `berth reindex` and `berth check` on a stopped server's data.
type Offline struct {
	ix  *index.Indexer
	db  *metadata.DB
	gc  *gc.Collector
	log *slog.Logger
}

// Retention is a runner of retention policies on this data (berth
// retention); safe while a server runs on it.
func (o *Offline) Retention() *retention.Runner { return retention.NewRunner(o.ix, o.log) }

// DB is the metadata database.
func (o *Offline) DB() *metadata.DB { return o.db }

// OpenOffline opens the configured storage and database.
func OpenOffline(ctx context.Context, cfg Config, log *slog.Logger) (*Offline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	driver, err := storage.Open(ctx, &cfg.Storage)
	if err != nil {
		return nil, err
	}
	ns, err := diststorage.NewRegistry(ctx, driver, diststorage.EnableDelete)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	db, err := metadata.Open(ctx, cfg.Database.URL, cfg.Database.Timeout)
	if err != nil {
		return nil, &storage.FieldError{Key: "database.url", Msg: err.Error()}
	}
	ix := index.NewOffline(db, log, ns, driver)
	col := gc.New(cfg.GC, gc.Deps{DB: db, Driver: driver, Mirror: ix.Settle, Forget: ix.ForgetBlob, Owner: ix.Owner()}, log)
	return &Offline{ix: ix, db: db, log: log, gc: col}, nil
}

// Reindex replays pending storage writes, then rebuilds the index from
// storage.
func (o *Offline) Reindex(ctx context.Context) (index.Stats, error) {
	return index.Reindex(metadata.WithTimeout(ctx, 0), o.ix, o.log)
}

// Check lists the differences between the index and storage.
func (o *Offline) Check(ctx context.Context) ([]index.Drift, error) {
	return index.Check(metadata.WithTimeout(ctx, 0), o.ix)
}

// GC runs one garbage-collection pass (dry: reports what it would delete),
// after importing what storage holds and the index does not know when
// importStore is set. Safe while a server runs on the same data.
func (o *Offline) GC(ctx context.Context, dryRun, importStore bool) (gc.ImportReport, gc.Report, error) {
	var imp gc.ImportReport
	if importStore {
		var err error
		if imp, err = o.gc.Import(ctx); err != nil {
			return imp, gc.Report{}, err
		}
	}
	r, err := o.gc.Pass(ctx, "cli", dryRun)
	return imp, r, err
}

// Close writes the storage copies the tool's changes left (a retention
// run does not wait for them), then closes the database.
func (o *Offline) Close() error {
	o.ix.StopSync(context.Background())
	return o.db.Close()
}
