package metadata

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// SpaceHint says where the database keeps its data and how much room it
// has and needs, for an operator facing a full disk.
func (db *DB) SpaceHint(ctx context.Context) string {
	if db.d.name != "sqlite" {
		return "free space on the PostgreSQL server's data volume (it answered \"disk full\"), then run the command again"
	}
	var path string
	if err := db.sql.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil || path == "" {
		return "free space on the volume of the SQLite database, then run the command again"
	}
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			size += fi.Size()
		}
	}
	var fs syscall.Statfs_t
	free := "unknown"
	if syscall.Statfs(filepath.Dir(path), &fs) == nil {
		free = fmt.Sprintf("%d MiB", int64(fs.Bavail)*int64(fs.Bsize)>>20)
	}
	// A rewrite of every row goes through the write-ahead log before it is
	// checkpointed: at worst about the database's own size.
	need := max(size>>20, 1) + 8
	return fmt.Sprintf("%s holds %d MiB and its volume has %s free; free at least %d MiB there, then run the command again", path, size>>20, free, need)
}
