package metadata

import (
	"context"
	"database/sql"
	"errors"
)

// What the index says of many keys of one repository at once, for the
// storage mirror of a bulk change (a retention batch settles hundreds of
// tags and manifests): one statement per list rather than one per key.

// tagTargets reads tags of a repository by name (the "(%s)" list) with the
// digest each points at, through the (repository_id, name) index.
const tagTargets = `SELECT t.name, a.digest FROM tags t JOIN artifacts a ON a.id = t.artifact_id
	WHERE t.repository_id = ? AND t.name IN (%s)`

// manifestsByDigest reads which of a list of digests a repository holds as
// manifests, through the (repository_id, digest) index.
const manifestsByDigest = `SELECT digest FROM artifacts WHERE repository_id = ? AND digest IN (%s)`

// manifestsByAlias reads which of a list of digests are aliases of
// manifests a repository holds, with their canonical digests.
const manifestsByAlias = `SELECT x.alias, a.digest FROM digest_aliases x
	JOIN artifacts a ON a.repository_id = ? AND a.digest = x.digest
	WHERE x.repository = ? AND x.kind = 'manifest' AND x.alias IN (%s)`

// TagTargets is TagTarget for many tags of repo: the digest each tag there
// points at, by name (tags not there are absent).
func (db *DB) TagTargets(ctx context.Context, repo string, tags []string) (map[string]string, error) {
	out := map[string]string{}
	repoID, err := db.repoID(ctx, db.sql, repo)
	if err != nil {
		return noRepo(out, err)
	}
	err = db.queryIn(ctx, db.sql, tagTargets, []any{repoID}, anySlice(tags), func(r *sql.Rows) error {
		var name, d string
		err := r.Scan(&name, &d)
		out[name] = d
		return err
	})
	return out, err
}

// LinkedManifests is LinkedManifest for many digests of repo: the
// canonical digest of the manifest each names there, itself or an alias of
// it (digests repo does not hold are absent).
func (db *DB) LinkedManifests(ctx context.Context, repo string, digests []string) (map[string]string, error) {
	out := map[string]string{}
	repoID, err := db.repoID(ctx, db.sql, repo)
	if err != nil {
		return noRepo(out, err)
	}
	if err := db.queryIn(ctx, db.sql, manifestsByDigest, []any{repoID}, anySlice(digests), func(r *sql.Rows) error {
		var d string
		err := r.Scan(&d)
		out[d] = d
		return err
	}); err != nil {
		return nil, err
	}
	var rest []any
	for _, d := range digests {
		if _, ok := out[d]; !ok {
			rest = append(rest, d)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	err = db.queryIn(ctx, db.sql, manifestsByAlias, []any{repoID, repo}, rest, func(r *sql.Rows) error {
		var alias, d string
		err := r.Scan(&alias, &d)
		out[alias] = d
		return err
	})
	return out, err
}

// noRepo is what a read of many keys of a repository returns when looking
// the repository up failed with err: none of them (empty) when there is
// no such repository.
func noRepo(empty map[string]string, err error) (map[string]string, error) {
	if errors.Is(err, ErrNotFound) {
		return empty, nil
	}
	return nil, err
}
