package metadata

import (
	"context"
	"testing"
	"time"
)

// Eviction weighs an image by its last pull (the artifact's or a tag's),
// leaves out a referrer whose subject is held (it goes with it), and
// finds what removing a victim takes: its tags; usage is the project's.
func TestEvictionCandidates(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "hub"}))
		a := pushImage(t, db, p.ID, "hub/app", "sha256:a", "v1", blob("sha256:la", 1000))
		pushImage(t, db, p.ID, "hub/app", "sha256:b", "v2", blob("sha256:lb", 2000))
		if _, err := db.PutArtifact(ctx, p.ID, "hub/app", Artifact{Digest: "sha256:sig", MediaType: "application/vnd.oci.image.manifest.v1+json",
			ManifestSize: 50, SubjectDigest: "sha256:a", Blobs: []Blob{{Digest: "sha256:sig", Size: 50}}}); err != nil {
			t.Fatal(err)
		}
		pulled := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		must0(t, db.RecordPulls(ctx, []Pull{{Repository: "hub/app", Digest: "sha256:a", Tag: "v1", Count: 1, At: pulled}}))

		cands := must[[]EvictionCandidate](t)(db.EvictionCandidates(ctx, p.ID, 100))
		got := map[string]EvictionCandidate{}
		for _, c := range cands {
			got[c.Digest] = c
		}
		if len(cands) != 2 || got["sha256:a"].Repository != "hub/app" || got["sha256:b"].Size != 2100 {
			t.Fatalf("candidates %+v, want the two images (not the signature)", cands)
		}
		if !got["sha256:a"].LastPull.Equal(pulled) || !got["sha256:b"].LastPull.IsZero() || got["sha256:b"].PushTime.IsZero() {
			t.Fatalf("pull times: a %v (want %v), b %v (never pulled, pushed %v)", got["sha256:a"].LastPull, pulled, got["sha256:b"].LastPull, got["sha256:b"].PushTime)
		}
		tags, children, err := db.ArtifactTags(ctx, a.ID)
		if err != nil || len(tags) != 1 || tags[0].Name != "v1" || tags[0].Digest != "sha256:a" || len(children) != 0 {
			t.Fatalf("tags of a: %+v %v %v", tags, children, err)
		}
		if used := must[int64](t)(db.ProjectUsage(ctx, p.ID)); used != 1100+2100+50 {
			t.Fatalf("usage %d, want %d", used, 1100+2100+50)
		}
		// Removed as eviction removes it: the tags, then the manifest with
		// its referrer; usage drops by what only they used.
		rows, _, _, err := db.RemoveTags(ctx, "hub/app", tags, "test")
		if err != nil || len(rows) != 1 {
			t.Fatalf("remove tags: %v %v", rows, err)
		}
		r, _, err := db.RemoveUntagged(ctx, "hub/app", []string{"sha256:a"}, "test")
		if err != nil || len(r.Digests) != 2 {
			t.Fatalf("removed %v (%v), want the image and its signature", r.Digests, err)
		}
		if used := must[int64](t)(db.ProjectUsage(ctx, p.ID)); used != 2100 {
			t.Fatalf("usage after removal %d, want 2100", used)
		}
	})
}
