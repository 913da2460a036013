package index

import (
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"

	"github.com/berth-registry/berth/storage"
)

// The settle pool is small on a filesystem (as berth wraps it: guarded)
// and wide on other drivers.
func TestSettleWorkers(t *testing.T) {
	fs := filesystem.New(filesystem.DriverParameters{RootDirectory: t.TempDir(), MaxThreads: 100})
	for _, tc := range []struct {
		name   string
		driver storagedriver.StorageDriver
		want   int
	}{
		{"filesystem", fs, 2},
		{"filesystem, guarded", storage.Guard(fs, time.Minute), 2},
		{"in memory (as an object store)", storage.Guard(inmemory.New(), time.Minute), 8},
		{"none yet", nil, 8},
	} {
		if got := settleWorkers(tc.driver); got != tc.want {
			t.Errorf("%s: %d workers, want %d", tc.name, got, tc.want)
		}
	}
}
