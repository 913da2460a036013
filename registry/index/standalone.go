package index

import (
	"context"
	"fmt"
	"log/slog"

	diststorage "github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"

	"github.com/berth-registry/berth/storage/metadata"
)

// Standalone returns an Indexer over db and distribution's storage on
// driver, without distribution's app: its namespace is the one the
// registry middleware would set (distribution's storage with the index
// applied), so changes through it are indexed exactly as a client's.
// The layers above (the domain) are tested on it without starting a
// registry; its background reconciler is not started.
func Standalone(ctx context.Context, db *metadata.DB, log *slog.Logger, driver storagedriver.StorageDriver, autoCreate bool) (*Indexer, error) {
	plain, err := diststorage.NewRegistry(ctx, driver, diststorage.EnableDelete)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	ix := New(db, log, autoCreate)
	ix.setNamespace(ix.Wrap(plain), plain, driver)
	return ix, nil
}
