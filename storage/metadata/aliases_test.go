package metadata

import (
	"context"
	"reflect"
	"testing"
)

func TestDigestAliases(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const sum = "sha256:aa"
		puts := []struct{ repo, kind, alias, digest string }{
			{"p/a", AliasBlob, "sha512:01", sum},
			{"p/a", AliasBlob, "sha512:01", sum}, // again: no-op
			{"p/a", AliasBlob, "sha384:02", sum},
			{"p/a", AliasManifest, "sha512:01", sum},
			{"p/b", AliasBlob, "sha512:01", sum},
		}
		for _, p := range puts {
			if err := db.PutDigestAlias(ctx, p.repo, p.kind, p.alias, p.digest); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name, repo, kind string
			want             []string
		}{
			{"blob aliases", "p/a", AliasBlob, []string{"sha384:02", "sha512:01"}},
			{"manifest aliases apart", "p/a", AliasManifest, []string{"sha512:01"}},
			{"other repository", "p/b", AliasBlob, []string{"sha512:01"}},
			{"unknown repository", "p/c", AliasBlob, nil},
		}
		for _, c := range cases {
			got, err := db.DigestAliases(ctx, c.repo, c.kind, sum)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
			}
		}
		if err := db.DeleteDigestAliases(ctx, "p/a", AliasBlob, sum); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.DigestAliases(ctx, "p/a", AliasBlob, sum); len(got) != 0 {
			t.Errorf("blob aliases after delete: %v", got)
		}
		if got, _ := db.DigestAliases(ctx, "p/a", AliasManifest, sum); len(got) != 1 {
			t.Errorf("manifest aliases after the blob ones were deleted: %v", got)
		}
		if err := db.DeleteRepositoryDigestAliases(ctx, "p/a"); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.DigestAliases(ctx, "p/a", AliasManifest, sum); len(got) != 0 {
			t.Errorf("manifest aliases after the repository's were deleted: %v", got)
		}
		if got, _ := db.DigestAliases(ctx, "p/b", AliasBlob, sum); len(got) != 1 {
			t.Errorf("another repository's aliases were deleted: %v", got)
		}
	})
}

// PutDigestAliasSync records the alias and the storage sync row of its
// link together.
func TestPutDigestAliasSync(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		key := SyncKey{Repository: "p/a", Kind: SyncLayer, Name: "sha512:03"}
		ids, err := db.PutDigestAliasSync(ctx, "p/a", AliasBlob, "sha512:03", "sha256:bb", "me", key)
		if err != nil || len(ids) != 1 {
			t.Fatalf("PutDigestAliasSync: %v, %v", ids, err)
		}
		if got, err := db.DigestAliases(ctx, "p/a", AliasBlob, "sha256:bb"); err != nil || !reflect.DeepEqual(got, []string{"sha512:03"}) {
			t.Fatalf("aliases %v, %v", got, err)
		}
		rows, err := db.OwnSync(ctx, "me", 0, 10)
		if err != nil || len(rows) != 1 || rows[0].ID != ids[0] || rows[0].SyncKey != key {
			t.Fatalf("sync rows %+v, %v; want one of %+v", rows, err, key)
		}
	})
}
