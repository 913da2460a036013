package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
)

// BenchmarkMgmtPage measures what one page of 100 of the management lists
// costs the index in a repository of 100,000 tags, each its own artifact
// (the shape of `berthbench -only mgmt`), at the first, middle and last
// offset: the page of tags or artifacts, then the page's artifacts by digest
// (SWR with manifest bytes, bk-repo without).
//
//	go test ./storage/metadata/ -run XXX -bench MgmtPage -benchtime 50x -count 1
func BenchmarkMgmtPage(b *testing.B) {
	const n, page = 100_000, 100
	ctx := context.Background()
	var repoID int64
	seed := func(b *testing.B, db *DB) {
		s := bulkSeed(b, db, "bench", []seedRepo{{name: "bench/app", artifacts: n, tags: n}, {name: "bench/other", artifacts: 10, tags: 100}})
		repoID = s.repoIDs["bench/app"]
		// Manifest bytes of a typical size (~1 KiB) for every artifact.
		digests, err := db.ArtifactDigests(ctx, repoID)
		if err != nil {
			b.Fatal(err)
		}
		ids := must[map[string]Artifact](b)(db.ArtifactsByDigests(ctx, repoID, digests, false))
		rows := make([][]any, 0, len(digests))
		for i, d := range digests {
			rows = append(rows, []any{ids[d].ID, fmt.Appendf(nil, `{"schemaVersion":2,"n":%d,"pad":"%0900d"}`, i, 0)})
		}
		if err := db.tx(ctx, func(tx *sql.Tx) error {
			return insertRows(ctx, db, tx, `INSERT INTO artifact_manifests (artifact_id, payload)`, rows, "", nil)
		}); err != nil {
			b.Fatal(err)
		}
	}
	forEachBackend(b, seed, func(b *testing.B, db *DB) {
		for _, off := range []int{0, n / 2, n - page} {
			tags := func(name string, opt ListOptions, withManifest bool) {
				b.Run(fmt.Sprintf("%s/offset%d", name, off), func(b *testing.B) {
					for b.Loop() {
						tags, total, err := db.ListTags(ctx, repoID, opt)
						if err != nil || total != n || len(tags) != page {
							b.Fatalf("%d tags of %d: %v", len(tags), total, err)
						}
						digests := make([]string, len(tags))
						for i, t := range tags {
							digests[i] = t.Digest
						}
						arts, err := db.ArtifactsByDigests(ctx, repoID, digests, withManifest)
						if err != nil || len(arts) != page || withManifest && arts[digests[0]].Manifest == nil {
							b.Fatalf("%d artifacts: %v", len(arts), err)
						}
					}
				})
			}
			tags("SWR", ListOptions{Sort: "push_time", Desc: true, Offset: off, Limit: page}, true)
			tags("bkrepo", ListOptions{Sort: "name", Offset: off, Limit: page}, false)
			b.Run(fmt.Sprintf("CCR/offset%d", off), func(b *testing.B) {
				for b.Loop() {
					arts, total, err := db.ListArtifacts(ctx, repoID, ListOptions{Sort: "push_time", Desc: true, Offset: off, Limit: page})
					if err != nil || total != n || len(arts) != page {
						b.Fatalf("%d artifacts of %d: %v", len(arts), total, err)
					}
				}
			})
		}
	})
}
