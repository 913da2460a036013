package retention

import (
	"context"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
)

// What the management API reads and changes of retention: policies, runs
// and immutable-tag rules, with failures in the domain's kinds (a missing
// one is domain.ErrNotFound, a bad one domain.ErrInvalid).

// Policy returns a project's policy.
func (rn *Runner) Policy(ctx context.Context, projectID int64) (metadata.RetentionPolicy, error) {
	p, err := rn.db.GetRetentionPolicy(ctx, projectID)
	return p, domain.Translate(err, "retention policy")
}

// DeletePolicy removes a project's policy.
func (rn *Runner) DeletePolicy(ctx context.Context, projectID int64) error {
	return domain.Translate(rn.db.DeleteRetentionPolicy(ctx, projectID), "retention policy")
}

// Runs lists a project's recent runs, newest first.
func (rn *Runner) Runs(ctx context.Context, projectID int64, limit int) ([]metadata.RetentionRun, error) {
	return rn.db.RetentionRuns(ctx, projectID, limit)
}

// RunItems returns a run of the project and the decisions it recorded
// after sequence number after, at most limit.
func (rn *Runner) RunItems(ctx context.Context, projectID, id, after int64, limit int) (metadata.RetentionRun, []metadata.RetentionItem, error) {
	run, err := rn.db.GetRetentionRun(ctx, projectID, id)
	if err != nil {
		return run, nil, domain.Translate(err, "retention run")
	}
	items, err := rn.db.RetentionItems(ctx, run.ID, after, limit)
	return run, items, err
}

// ImmutableRules lists a project's immutable-tag rules.
func (rn *Runner) ImmutableRules(ctx context.Context, projectID int64) ([]metadata.ImmutableRule, error) {
	return rn.db.ImmutableRules(ctx, projectID)
}

// AddImmutableRule protects the tags matching tags in the repositories
// matching repositories ("" is every repository) from moves and deletes.
func (rn *Runner) AddImmutableRule(ctx context.Context, projectID int64, repositories, tags, by string) (metadata.ImmutableRule, error) {
	if repositories == "" {
		repositories = "**"
	}
	rule := metadata.ImmutableRule{ProjectID: projectID, Repositories: repositories, Tags: tags, CreatedBy: by}
	if tags == "" {
		return rule, domain.Errorf(domain.ErrInvalid, "tags (a pattern) is required")
	}
	if _, err := index.CompileImmutable([]metadata.ImmutableRule{rule}); err != nil {
		return rule, domain.Errorf(domain.ErrInvalid, "%v", err)
	}
	return rn.db.CreateImmutableRule(ctx, rule)
}

// DeleteImmutableRule removes a rule of a project.
func (rn *Runner) DeleteImmutableRule(ctx context.Context, projectID, id int64) error {
	return domain.Translate(rn.db.DeleteImmutableRule(ctx, projectID, id), "immutable rule")
}
