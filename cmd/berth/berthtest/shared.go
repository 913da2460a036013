package berthtest

import (
	"os"
	"path/filepath"
)

// StopShared stops the servers shared by a test binary's tests (SharedMinIO,
// SharedPostgres) and removes their data directories and the berth binary
// built for them: the processes would die with the binary anyway, their
// directories (gigabytes of MinIO buckets after an end-to-end run) would
// not. Main calls it after the tests.
func StopShared() {
	sharedMu.Lock()
	if m := sharedMinIO; m != nil {
		m.Stop()
		_ = os.RemoveAll(m.dir)
		sharedMinIO = nil
	}
	sharedMu.Unlock()
	sharedPGMu.Lock()
	if p := sharedPG; p != nil {
		p.Stop()
		_ = os.RemoveAll(p.dir)
		sharedPG = nil
	}
	sharedPGMu.Unlock()
	if buildPath != "" {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
}
