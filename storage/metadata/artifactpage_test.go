package metadata

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// pushManifest indexes an artifact with manifest bytes (nil: none, as an
// artifact indexed before migration 006).
func pushManifest(t testing.TB, db *DB, projectID int64, repo, digest string, payload []byte) Artifact {
	t.Helper()
	return must[Artifact](t)(db.PutArtifact(context.Background(), projectID, repo, Artifact{
		Digest: digest, MediaType: "application/vnd.oci.image.manifest.v1+json", ManifestSize: int64(len(payload)),
		ConfigDigest: "sha256:cfg-" + digest, Blobs: []Blob{{Digest: digest, Size: 100}}, PushedBy: "alice", Manifest: payload,
	}))
}

func TestArtifactsByDigests(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		a := pushManifest(t, db, p.ID, "p/r", "sha256:a", []byte(`{"a":1}`))
		pushManifest(t, db, p.ID, "p/r", "sha256:b", nil)
		pushManifest(t, db, p.ID, "p/other", "sha256:c", []byte(`{"c":1}`))
		repoID := a.RepositoryID
		// Many digests: more than one IN chunk.
		many := []string{"sha256:a"}
		for i := range 2*maxInArgs + 3 {
			many = append(many, fmt.Sprintf("sha256:missing-%d", i))
		}
		tests := []struct {
			name         string
			digests      []string
			withManifest bool
			want         map[string]string // digest → manifest bytes ("-": nil)
		}{
			{"none", nil, true, map[string]string{}},
			{"without bytes", []string{"sha256:a", "sha256:b"}, false, map[string]string{"sha256:a": "-", "sha256:b": "-"}},
			{"with bytes", []string{"sha256:a", "sha256:b"}, true, map[string]string{"sha256:a": `{"a":1}`, "sha256:b": "-"}},
			{"duplicates", []string{"sha256:a", "sha256:a"}, true, map[string]string{"sha256:a": `{"a":1}`}},
			{"other repository and unknown", []string{"sha256:c", "sha256:zzz"}, true, map[string]string{}},
			{"chunks", many, false, map[string]string{"sha256:a": "-"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := db.ArtifactsByDigests(ctx, repoID, tc.digests, tc.withManifest)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d artifacts, want %d: %v", len(got), len(tc.want), got)
				}
				for d, w := range tc.want {
					g, ok := got[d]
					switch {
					case !ok:
						t.Fatalf("%s missing", d)
					case g.Digest != d || g.Repository != "p/r" || g.RepositoryID != repoID || g.PushedBy != "alice" || g.ConfigDigest != "sha256:cfg-"+d:
						t.Errorf("%s: got %+v", d, g)
					case w == "-" && g.Manifest != nil, w != "-" && string(g.Manifest) != w:
						t.Errorf("%s: manifest %q, want %q", d, g.Manifest, w)
					}
				}
			})
		}
		// The same record as GetArtifact, save for what only gets fill.
		one := must[Artifact](t)(db.GetArtifact(ctx, repoID, "sha256:a"))
		got := must[map[string]Artifact](t)(db.ArtifactsByDigests(ctx, repoID, []string{"sha256:a"}, false))["sha256:a"]
		if got.ID != one.ID || got.Size != one.Size || !got.PushTime.Equal(one.PushTime) || got.MediaType != one.MediaType {
			t.Errorf("by digest %+v, get %+v", got, one)
		}
	})
}

func TestManifestBytes(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		a := pushManifest(t, db, p.ID, "p/r", "sha256:a", []byte(`{"a":1}`))
		pushManifest(t, db, p.ID, "p/r", "sha256:old", nil)
		repoID := a.RepositoryID
		read := func(d string) []byte {
			t.Helper()
			return must[map[string]Artifact](t)(db.ArtifactsByDigests(ctx, repoID, []string{d}, true))[d].Manifest
		}
		all := func() map[string]string {
			t.Helper()
			out := map[string]string{}
			if err := db.EachManifest(ctx, repoID, func(d string, b []byte) error { out[d] = string(b); return nil }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := all(); len(got) != 1 || got["sha256:a"] != `{"a":1}` {
			t.Fatalf("each: %v", got)
		}
		// A re-push (or reindex) fills bytes a row lacks and never changes them.
		pushManifest(t, db, p.ID, "p/r", "sha256:old", []byte(`{"old":1}`))
		pushManifest(t, db, p.ID, "p/r", "sha256:a", []byte(`{"other":1}`))
		if got := read("sha256:old"); string(got) != `{"old":1}` {
			t.Errorf("after re-push: %q", got)
		}
		if got := read("sha256:a"); string(got) != `{"a":1}` {
			t.Errorf("bytes changed: %q", got)
		}
		// PutManifest: fills, keeps, ignores unknown artifacts.
		pushManifest(t, db, p.ID, "p/r", "sha256:lazy", nil)
		for _, d := range []string{"sha256:lazy", "sha256:lazy", "sha256:gone"} {
			if err := db.PutManifest(ctx, repoID, d, []byte(`{"lazy":1}`)); err != nil {
				t.Fatal(err)
			}
		}
		if got := read("sha256:lazy"); !bytes.Equal(got, []byte(`{"lazy":1}`)) {
			t.Errorf("lazy fill: %q", got)
		}
		// Deleting the artifact deletes its bytes.
		if err := db.DeleteArtifact(ctx, repoID, "sha256:a"); err != nil {
			t.Fatal(err)
		}
		if got := all(); len(got) != 2 || got["sha256:a"] != "" {
			t.Errorf("after delete: %v", got)
		}
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM artifact_manifests`).Scan(&n); err != nil || n != 2 {
			t.Errorf("%d rows left, %v", n, err)
		}
	})
}
