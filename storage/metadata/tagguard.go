package metadata

import (
	"context"
	"database/sql"
)

// A tag guard refuses to move or delete a tag (immutable tags): every
// change that moves a tag to another manifest or deletes it, whatever the
// path (a push, a delete of the tag, of its manifest or of the repository,
// retention), asks it inside its transaction, so a refused change changes
// nothing.

type tagGuardKey struct{}

// TagGuard returns nil when repo's tag may be moved or deleted.
type TagGuard func(repo, tag string) error

// WithTagGuard makes the changes made with ctx ask guard.
func WithTagGuard(ctx context.Context, guard TagGuard) context.Context {
	return context.WithValue(ctx, tagGuardKey{}, guard)
}

func guardTag(ctx context.Context, repo, tag string) error {
	if g, ok := ctx.Value(tagGuardKey{}).(TagGuard); ok && g != nil {
		return g(repo, tag)
	}
	return nil
}

func hasTagGuard(ctx context.Context) bool {
	g, ok := ctx.Value(tagGuardKey{}).(TagGuard)
	return ok && g != nil
}

// guardRepoTags asks the guard about tags of the repository repoID.
func (db *DB) guardRepoTags(ctx context.Context, q querier, repoID int64, tags ...string) error {
	if !hasTagGuard(ctx) || len(tags) == 0 {
		return nil
	}
	var name string
	if err := q.QueryRowContext(ctx, db.q(`SELECT name FROM repositories WHERE id = ?`), repoID).Scan(&name); err != nil {
		if err == sql.ErrNoRows {
			return nil
		}
		return err
	}
	for _, t := range tags {
		if err := guardTag(ctx, name, t); err != nil {
			return err
		}
	}
	return nil
}
