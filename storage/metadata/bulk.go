package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// The deletes are set-based: each takes any number of rows of one
// repository in a handful of statements, and the single-row paths (a tag
// or manifest delete through an API) call them with one row. A retention
// run removing a million tags and a docker client deleting one go through
// the same code.

// inChunk is how many values an IN list holds at most.
const inChunk = 500

// padIn lengthens a list to the next of a few sizes by repeating its last
// value, which changes no IN test: a statement then has a handful of
// texts, each prepared once (hot), instead of one per list length, parsed
// at every call (on SQLite parsing cost as much as a small batch's reads).
func padIn(list []any) []any {
	size := inChunk
	for s := 1; s < inChunk; s *= 2 {
		if len(list) <= s {
			size = s
			break
		}
	}
	if len(list) == 0 || len(list) >= size {
		return list
	}
	out := make([]any, size)
	copy(out, list)
	for i := len(list); i < size; i++ {
		out[i] = list[len(list)-1]
	}
	return out
}

// queryIn runs query, whose "(%s)" is an IN list, over list in chunks,
// with pre as the arguments before the list, calling scan on every row.
func (db *DB) queryIn(ctx context.Context, q querier, query string, pre, list []any, scan func(*sql.Rows) error) error {
	for start := 0; start < len(list); start += inChunk {
		part := padIn(list[start:min(start+inChunk, len(list))])
		rows, err := db.hot(ctx, q).Query(fmt.Sprintf(query, placeholders(len(part))), append(slices.Clone(pre), part...)...)
		if err := eachRow(rows, err, scan); err != nil {
			return err
		}
	}
	return nil
}

// eachRow calls each on every row of a query's rows (err: the query's
// error) and closes them.
func eachRow(rows *sql.Rows, err error, each func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// execIn runs a statement whose "(%s)" is an IN list over list in chunks.
func (db *DB) execIn(ctx context.Context, q querier, stmt string, pre, list []any) error {
	for start := 0; start < len(list); start += inChunk {
		part := padIn(list[start:min(start+inChunk, len(list))])
		if _, err := db.hot(ctx, q).Exec(fmt.Sprintf(stmt, placeholders(len(part))), append(slices.Clone(pre), part...)...); err != nil {
			return err
		}
	}
	return nil
}

func idArgs(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// blobsOfArtifacts reads the blobs of artifacts by id, with their blob
// ids (migration 032).
const blobsOfArtifacts = `SELECT artifact_id, digest, blob_id FROM artifact_blobs WHERE artifact_id IN (%s)`

// artifactsByID reads artifacts by id (the "(%s)" list) with their tag
// counts. Their repository is checked by the caller: with
// "a.repository_id = ?" in the query, SQLite's planner read every artifact
// of the repository through an index on it instead of looking the ids up,
// for lists of as few as five.
const artifactsByID = `SELECT a.id, a.repository_id, a.digest, a.listed, (SELECT count(*) FROM tags t WHERE t.artifact_id = a.id)
	FROM artifacts a WHERE a.id IN (%s)`

// deleteArtifactsTx deletes the artifacts ids of repository repoID (ids
// gone or of another repository are skipped) with what hangs on them:
// their tags (the guard asked first), the project's accounting of their
// blobs, reviews of what they may leave unused, the listed flags of their
// children, and the repository when its last artifact goes. ErrNotFound
// when none of them was there.
func (db *DB) deleteArtifactsTx(ctx context.Context, tx *sql.Tx, repoID int64, ids []int64) error {
	if err := db.lockRepos(ctx, tx, repoID); err != nil {
		return err
	}
	var projectID int64
	var repo string
	err := db.hot(ctx, tx).QueryRow(`SELECT project_id, name FROM repositories WHERE id = ?`, repoID).Scan(&projectID, &repo)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("repository %d: %w", repoID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	type art struct {
		digest          string
		listed          bool
		tags            int64
		blobs, children []string
	}
	arts := map[int64]*art{}
	var found []int64
	err = db.queryIn(ctx, tx, artifactsByID, nil, idArgs(ids), func(r *sql.Rows) error {
		var id, repoOf int64
		var a art
		var listed boolish
		if err := r.Scan(&id, &repoOf, &a.digest, &listed, &a.tags); err != nil {
			return err
		}
		if repoOf != repoID {
			return nil // not one of the repository's
		}
		a.listed = bool(listed)
		arts[id] = &a
		found = append(found, id)
		return nil
	})
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("artifact: %w", ErrNotFound)
	}
	slices.Sort(found)
	args := idArgs(found)
	blobIDs := map[string]int64{} // the blobs' ids
	if err := db.queryIn(ctx, tx, blobsOfArtifacts, nil, args, func(r *sql.Rows) error {
		var id int64
		var d string
		var blob int64
		err := r.Scan(&id, &d, &blob)
		arts[id].blobs = append(arts[id].blobs, d)
		if blob != 0 {
			blobIDs[d] = blob
		}
		return err
	}); err != nil {
		return err
	}
	var childIDs []int64
	if err := db.queryIn(ctx, tx, `SELECT parent_id, child_digest, child_id FROM artifact_references WHERE parent_id IN (%s)`, nil, args, func(r *sql.Rows) error {
		var id int64
		var d string
		var child sql.NullInt64
		err := r.Scan(&id, &d, &child)
		arts[id].children = append(arts[id].children, d)
		if child.Valid {
			childIDs = append(childIDs, child.Int64)
		}
		return err
	}); err != nil {
		return err
	}
	if hasTagGuard(ctx) {
		if err := db.queryIn(ctx, tx, `SELECT name FROM tags WHERE artifact_id IN (%s)`, nil, args, func(r *sql.Rows) error {
			var name string
			if err := r.Scan(&name); err != nil {
				return err
			}
			return guardTag(ctx, repo, name)
		}); err != nil {
			return err
		}
	}
	uses := map[string]int64{}
	var listed, tags int64
	var reviews []review
	var users []blobUser
	for _, id := range found {
		a := arts[id]
		reviews = append(reviews, db.reviewsAfterDelete(repo, a.digest, a.blobs, a.children)...)
		for _, d := range a.blobs {
			uses[d]++
			users = append(users, blobUser{d, id, blobIDs[d]})
		}
		if a.listed {
			listed++
		}
		tags += a.tags
	}
	if err := db.queueReviews(ctx, tx, reviews); err != nil {
		return err
	}
	if err := db.releaseBlobsTx(ctx, tx, projectID, uses, blobIDs); err != nil {
		return err
	}
	if err := db.releaseBlobUsersTx(ctx, tx, users); err != nil {
		return err
	}
	if err := db.execIn(ctx, tx, `DELETE FROM artifacts WHERE id IN (%s)`, nil, args); err != nil {
		return err
	}
	if _, err := db.hot(ctx, tx).Exec(`UPDATE repositories SET artifact_count = artifact_count - ?, listed_count = listed_count - ?,
		tag_count = tag_count - ? WHERE id = ?`, len(found), listed, tags, repoID); err != nil {
		return err
	}
	if err := db.relist(ctx, tx, childIDs...); err != nil { // they may stand alone now
		return err
	}
	// A repository its last artifact leaves is gone (as in Harbor): from the
	// catalog and every list. A push re-creates it.
	_, err = db.hot(ctx, tx).Exec(`DELETE FROM repositories WHERE id = ? AND artifact_count <= 0
		AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.repository_id = repositories.id)`, repoID)
	return err
}

// referrersOf selects the referrers of a repository's manifests (the
// "(%s)" list of digests), through the referrers index (see
// referrersAfter).
const referrersOf = `SELECT digest FROM artifacts WHERE repository_id = ? AND subject_digest <> '' AND subject_digest IN (%s)`

// deleteManifestsTx removes manifests of repo (those not indexed are
// skipped) with, as Harbor does with accessories, every manifest whose
// subject they are, recursively, and every tag on them; it records the
// storage sync rows. ErrNotFound when none of digests is indexed.
func (db *DB) deleteManifestsTx(ctx context.Context, tx *sql.Tx, repo string, digests []string, owner string) (Removed, error) {
	var out Removed
	repoID, err := db.repoID(ctx, tx, repo)
	if err != nil {
		return out, err
	}
	seen := map[string]bool{}
	var level []string
	for _, d := range digests {
		if !seen[d] {
			seen[d] = true
			level = append(level, d)
		}
	}
	for first := true; len(level) > 0; first = false {
		ids := map[string]int64{}
		if err := db.queryIn(ctx, tx, `SELECT id, digest FROM artifacts WHERE repository_id = ? AND digest IN (%s)`, []any{repoID}, anySlice(level), func(r *sql.Rows) error {
			var id int64
			var d string
			err := r.Scan(&id, &d)
			ids[d] = id
			return err
		}); err != nil {
			return out, err
		}
		if len(ids) == 0 {
			if first {
				return out, fmt.Errorf("artifact %s: %w", digests[0], ErrNotFound)
			}
			break
		}
		var found []string
		var idList []any
		for _, d := range level { // the order asked, referrers after their subjects
			if id, ok := ids[d]; ok {
				found = append(found, d)
				idList = append(idList, id)
			}
		}
		if err := db.queryIn(ctx, tx, `SELECT name FROM tags WHERE artifact_id IN (%s)`, nil, idList, func(r *sql.Rows) error {
			var name string
			err := r.Scan(&name)
			out.Tags = append(out.Tags, name)
			return err
		}); err != nil {
			return out, err
		}
		var aliases []string
		if err := db.queryIn(ctx, tx, `SELECT alias FROM digest_aliases WHERE repository = ? AND kind = ? AND digest IN (%s)`,
			[]any{repo, AliasManifest}, anySlice(found), func(r *sql.Rows) error {
				var a string
				err := r.Scan(&a)
				aliases = append(aliases, a)
				return err
			}); err != nil {
			return out, err
		}
		var next []string
		if err := db.queryIn(ctx, tx, referrersOf,
			[]any{repoID}, anySlice(append(slices.Clone(found), aliases...)), func(r *sql.Rows) error {
				var d string
				if err := r.Scan(&d); err != nil {
					return err
				}
				if !seen[d] {
					seen[d] = true
					next = append(next, d)
				}
				return nil
			}); err != nil {
			return out, err
		}
		artIDs := make([]int64, len(idList))
		for i, id := range idList {
			artIDs[i] = id.(int64)
		}
		if err := db.deleteArtifactsTx(ctx, tx, repoID, artIDs); err != nil {
			return out, err
		}
		if err := db.execIn(ctx, tx, `DELETE FROM digest_aliases WHERE repository = ? AND kind = ? AND digest IN (%s)`,
			[]any{repo, AliasManifest}, anySlice(found)); err != nil {
			return out, err
		}
		out.Digests = append(out.Digests, found...)
		out.Aliases = append(out.Aliases, aliases...)
		level = next
	}
	for _, d := range append(slices.Clone(out.Digests), out.Aliases...) {
		out.Keys = append(out.Keys, SyncKey{repo, SyncManifest, d})
	}
	for _, t := range out.Tags {
		out.Keys = append(out.Keys, SyncKey{repo, SyncTag, t})
	}
	out.SyncIDs, err = db.addSyncTx(ctx, tx, owner, out.Keys...)
	return out, err
}

// deleteTagsTx deletes tags of repository repoID (names not there are
// skipped; the guard is asked first) and returns those it deleted.
func (db *DB) deleteTagsTx(ctx context.Context, tx *sql.Tx, repoID int64, names []string) ([]string, error) {
	if err := db.lockRepos(ctx, tx, repoID); err != nil {
		return nil, err
	}
	var found []string
	var arts []int64
	if err := db.queryIn(ctx, tx, `SELECT name, artifact_id FROM tags WHERE repository_id = ? AND name IN (%s)`, []any{repoID}, anySlice(names), func(r *sql.Rows) error {
		var name string
		var art int64
		err := r.Scan(&name, &art)
		found, arts = append(found, name), append(arts, art)
		return err
	}); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, nil
	}
	if err := db.guardRepoTags(ctx, tx, repoID, found...); err != nil {
		return nil, err
	}
	if err := db.execIn(ctx, tx, `DELETE FROM tags WHERE repository_id = ? AND name IN (%s)`, []any{repoID}, anySlice(found)); err != nil {
		return nil, err
	}
	if _, err := db.hot(ctx, tx).Exec(`UPDATE repositories SET tag_count = tag_count - ? WHERE id = ?`, len(found), repoID); err != nil {
		return nil, err
	}
	if err := db.queueUntagged(ctx, tx, repoID, arts...); err != nil {
		return nil, err
	}
	return found, db.relist(ctx, tx, arts...) // a child untagged is listed no more
}
