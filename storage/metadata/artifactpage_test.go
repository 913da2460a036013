package metadata

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
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
		// A re-push (or reindex) fills bytes a row lacks, and repairs bytes
		// that differ from what it read (damage: a digest's bytes never change).
		pushManifest(t, db, p.ID, "p/r", "sha256:old", []byte(`{"old":1}`))
		pushManifest(t, db, p.ID, "p/r", "sha256:a", []byte(`{"a":1}`))
		if got := read("sha256:old"); string(got) != `{"old":1}` {
			t.Errorf("after re-push: %q", got)
		}
		pushManifest(t, db, p.ID, "p/r", "sha256:a", []byte(`{"repaired":1}`))
		if got := read("sha256:a"); string(got) != `{"repaired":1}` {
			t.Errorf("not repaired: %q", got)
		}
		// PutManifest (a reader's lazy fill): fills, never overwrites,
		// ignores unknown artifacts.
		pushManifest(t, db, p.ID, "p/r", "sha256:lazy", nil)
		for _, payload := range []string{`{"lazy":1}`, `{"lazy":2}`} {
			for _, d := range []string{"sha256:lazy", "sha256:gone"} {
				if err := db.PutManifest(ctx, repoID, d, []byte(payload)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := read("sha256:lazy"); !bytes.Equal(got, []byte(`{"lazy":1}`)) {
			t.Errorf("lazy fill: %q", got)
		}
		// Deleting the artifact deletes its bytes.
		if err := db.DeleteArtifact(ctx, repoID, "sha256:a"); err != nil {
			t.Fatal(err)
		}
		if got := all(); len(got) != 2 || got["sha256:a"] != "" || got["sha256:old"] != `{"old":1}` {
			t.Errorf("after delete: %v", got)
		}
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM artifact_manifests`).Scan(&n); err != nil || n != 2 {
			t.Errorf("%d rows left, %v", n, err)
		}
	})
}

func TestNearerEnd(t *testing.T) {
	tests := []struct {
		name    string
		opt     ListOptions
		total   int64
		want    ListOptions
		flipped bool
	}{
		{"first half", ListOptions{Offset: 40, Limit: 10}, 100, ListOptions{Offset: 40, Limit: 10}, false},
		{"middle stays", ListOptions{Offset: 50, Limit: 10}, 100, ListOptions{Offset: 50, Limit: 10}, false},
		{"second half", ListOptions{Offset: 60, Limit: 10}, 100, ListOptions{Offset: 30, Limit: 10, Desc: true}, true},
		{"last page", ListOptions{Offset: 90, Limit: 10, Desc: true}, 100, ListOptions{Offset: 0, Limit: 10}, true},
		{"short last page", ListOptions{Offset: 95, Limit: 10}, 100, ListOptions{Offset: 0, Limit: 5, Desc: true}, true},
		{"past the end", ListOptions{Offset: 100, Limit: 10}, 100, ListOptions{Offset: 100, Limit: 10}, false},
		{"no limit", ListOptions{Offset: 90}, 100, ListOptions{Offset: 90}, false},
		{"sort kept", ListOptions{Sort: "push_time", Offset: 7, Limit: 2}, 8, ListOptions{Sort: "push_time", Offset: 0, Limit: 1, Desc: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, flipped := nearerEnd(tc.opt, tc.total)
			if got != tc.want || flipped != tc.flipped {
				t.Errorf("got %+v %v, want %+v %v", got, flipped, tc.want, tc.flipped)
			}
		})
	}
}

// Every page of every order, read from either end, is the slice of the
// whole list at its offset.
func TestPagesFromEitherEnd(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		const n = 9
		var repoID int64
		for i := range n {
			d := fmt.Sprintf("sha256:%02d", (i*5)%n)
			a := must[Artifact](t)(db.PutArtifact(ctx, p.ID, "p/r", Artifact{Digest: d, MediaType: "m", PushTime: seedTime(i % 3)}))
			repoID = a.RepositoryID
			if err := db.PutTag(ctx, repoID, fmt.Sprintf("t%d", (i*2)%n), d, seedTime(i%4)); err != nil {
				t.Fatal(err)
			}
		}
		for _, opt := range []ListOptions{{}, {Desc: true}, {Sort: "push_time"}, {Sort: "push_time", Desc: true}, {Filter: "t"}} {
			allTags, _ := must2[Tag](t)(db.ListTags(ctx, repoID, opt))
			allArts, _ := must2[Artifact](t)(db.ListArtifacts(ctx, repoID, opt))
			if len(allTags) != n || len(allArts) != n {
				t.Fatalf("%+v: %d tags, %d artifacts", opt, len(allTags), len(allArts))
			}
			for off := 0; off <= n; off++ {
				page := opt
				page.Offset, page.Limit = off, 2
				tags, total := must2[Tag](t)(db.ListTags(ctx, repoID, page))
				arts, atotal := must2[Artifact](t)(db.ListArtifacts(ctx, repoID, page))
				want := allTags[off:min(off+2, n)]
				wantArts := allArts[off:min(off+2, n)]
				if total != n || atotal != n || len(tags) != len(want) || len(arts) != len(wantArts) {
					t.Fatalf("%+v: %d tags of %d, %d artifacts of %d", page, len(tags), total, len(arts), atotal)
				}
				for i := range want {
					if tags[i].Name != want[i].Name {
						t.Errorf("%+v: tag %d is %s, want %s", page, i, tags[i].Name, want[i].Name)
					}
					if arts[i].Digest != wantArts[i].Digest || len(arts[i].Tags) != len(wantArts[i].Tags) {
						t.Errorf("%+v: artifact %d is %s, want %s", page, i, arts[i].Digest, wantArts[i].Digest)
					}
				}
			}
		}
	})
}

// seedTime is a push time i seconds after seedBase (few values: ties).
func seedTime(i int) time.Time { return time.UnixMilli(seedBase + int64(i)*1000) }
