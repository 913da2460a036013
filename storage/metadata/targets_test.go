package metadata

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// The batched reads a bulk mirror makes say of every key what the one-key
// reads say: tags of the repository only, manifests by digest or alias,
// nothing for keys the repository does not hold.
func TestTargetsAgreeWithOneKeyReads(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		pushImage(t, db, p.ID, "p/a", "sha256:m1", "t1")
		pushImage(t, db, p.ID, "p/a", "sha256:m2", "t2")
		pushImage(t, db, p.ID, "p/a", "sha256:m1", "t3")
		pushImage(t, db, p.ID, "p/b", "sha256:m3", "t1") // the same tag name elsewhere
		if err := db.PutDigestAlias(ctx, "p/a", AliasManifest, "sha512:m1", "sha256:m1"); err != nil {
			t.Fatal(err)
		}
		if err := db.PutDigestAlias(ctx, "p/a", AliasBlob, "sha512:m2", "sha256:m2"); err != nil { // a blob's alias, not a manifest's
			t.Fatal(err)
		}
		// More names than one IN list takes, so the chunks are read too.
		many := []string{"t1", "t2", "t3", "gone"}
		for i := range inChunk + 10 {
			many = append(many, fmt.Sprintf("x%d", i))
		}
		cases := []struct {
			name, repo string
			tags       []string
			digests    []string
			wantTags   map[string]string
			wantDigest map[string]string
		}{
			{"its own", "p/a", []string{"t1", "t2", "t3"}, []string{"sha256:m1", "sha256:m2"},
				map[string]string{"t1": "sha256:m1", "t2": "sha256:m2", "t3": "sha256:m1"},
				map[string]string{"sha256:m1": "sha256:m1", "sha256:m2": "sha256:m2"}},
			{"aliases of manifests only", "p/a", nil, []string{"sha512:m1", "sha512:m2"}, map[string]string{},
				map[string]string{"sha512:m1": "sha256:m1"}},
			{"another repository's", "p/b", []string{"t1", "t2"}, []string{"sha256:m1", "sha256:m3", "sha512:m1"},
				map[string]string{"t1": "sha256:m3"}, map[string]string{"sha256:m3": "sha256:m3"}},
			{"no such repository", "p/none", []string{"t1"}, []string{"sha256:m1"}, map[string]string{}, map[string]string{}},
			{"lists longer than a chunk", "p/a", many, nil,
				map[string]string{"t1": "sha256:m1", "t2": "sha256:m2", "t3": "sha256:m1"}, map[string]string{}},
		}
		for _, c := range cases {
			tags, err := db.TagTargets(ctx, c.repo, c.tags)
			if err != nil || !reflect.DeepEqual(tags, c.wantTags) {
				t.Errorf("%s: TagTargets %v, %v; want %v", c.name, tags, err, c.wantTags)
			}
			digests, err := db.LinkedManifests(ctx, c.repo, c.digests)
			if err != nil || !reflect.DeepEqual(digests, c.wantDigest) {
				t.Errorf("%s: LinkedManifests %v, %v; want %v", c.name, digests, err, c.wantDigest)
			}
			for _, tag := range c.tags {
				one, err := db.TagTarget(ctx, c.repo, tag)
				if errors.Is(err, ErrNotFound) {
					one, err = "", nil
				}
				if err != nil || one != tags[tag] {
					t.Errorf("%s: tag %s: one-key read %q, %v; batched %q", c.name, tag, one, err, tags[tag])
				}
			}
			for _, d := range c.digests {
				one, err := db.LinkedManifest(ctx, c.repo, d)
				if errors.Is(err, ErrNotFound) {
					one, err = "", nil
				}
				if err != nil || one != digests[d] {
					t.Errorf("%s: manifest %s: one-key read %q, %v; batched %q", c.name, d, one, err, digests[d])
				}
			}
		}
	})
}
