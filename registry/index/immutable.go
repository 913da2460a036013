package index

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/registry/pattern"
	"github.com/berth-registry/berth/storage/metadata"
)

// Immutable tags. A project's rules (repository and tag globs) make the
// tags they match impossible to move or delete, by anyone, until the rule
// is removed. The index enforces them inside the transaction of every
// change (metadata.WithTagGuard): a push over such a tag, a delete of it,
// of its manifest or of its repository, retention: all refused whole.

// ImmutableError is a change refused because a rule protects the tag.
type ImmutableError struct {
	Repository string                 `json:"repository"`
	Tag        string                 `json:"tag"`
	Rule       metadata.ImmutableRule `json:"rule"`
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("tag %s:%s is immutable (rule #%d: repositories %q, tags %q): it cannot be overwritten or deleted until the rule is removed",
		e.Repository, e.Tag, e.Rule.ID, e.Rule.Repositories, e.Rule.Tags)
}

// IsImmutable reports whether err is a change refused by an immutability
// rule.
func IsImmutable(err error) bool {
	var ie *ImmutableError
	return errors.As(err, &ie)
}

// ImmutableRules are a project's compiled rules.
type ImmutableRules []compiledRule

type compiledRule struct {
	rule        metadata.ImmutableRule
	repos, tags *pattern.Pattern
}

// CompileImmutable compiles rules (checking their globs).
func CompileImmutable(rules []metadata.ImmutableRule) (ImmutableRules, error) {
	out := make(ImmutableRules, 0, len(rules))
	for _, r := range rules {
		rp, err := pattern.Compile(r.Repositories)
		if err != nil {
			return nil, err
		}
		tp, err := pattern.Compile(r.Tags)
		if err != nil {
			return nil, err
		}
		out = append(out, compiledRule{rule: r, repos: rp, tags: tp})
	}
	return out, nil
}

// Match returns the rule that protects repo's tag, if any. repo is the full
// name; rules match the path after the project.
func (rs ImmutableRules) Match(repo, tag string) (metadata.ImmutableRule, bool) {
	_, path, _ := strings.Cut(repo, "/")
	for _, r := range rs {
		if r.repos.Match(path) && r.tags.Match(tag) {
			return r.rule, true
		}
	}
	return metadata.ImmutableRule{}, false
}

// ImmutableRules loads the rules of the project repo belongs to.
func (ix *Indexer) ImmutableRules(ctx context.Context, repo string) (ImmutableRules, error) {
	p, err := ix.db.LookupProject(ctx, ProjectName(repo))
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rules, err := ix.db.ImmutableRules(ctx, p.ID)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	return CompileImmutable(rules)
}

// guarded returns ctx with the tag guard of repo's project, for the changes
// made with it.
func (ix *Indexer) guarded(ctx context.Context, repo string) (context.Context, error) {
	rules, err := ix.ImmutableRules(ctx, repo)
	if err != nil || len(rules) == 0 {
		return ctx, err
	}
	return metadata.WithTagGuard(ctx, func(r, tag string) error {
		if rule, ok := rules.Match(r, tag); ok {
			return &ImmutableError{Repository: r, Tag: tag, Rule: rule}
		}
		return nil
	}), nil
}

// CheckImmutable refuses (an *ImmutableError) when a rule protects any of
// repo's tags, for the answers that must say so before anything is tried.
func (ix *Indexer) CheckImmutable(ctx context.Context, repo string, tags ...string) error {
	rules, err := ix.ImmutableRules(ctx, repo)
	if err != nil || len(rules) == 0 {
		return err
	}
	for _, t := range tags {
		if rule, ok := rules.Match(repo, t); ok {
			return &ImmutableError{Repository: repo, Tag: t, Rule: rule}
		}
	}
	return nil
}

// CheckImmutableDelete refuses a delete of repo's manifest ref (a tag, or a
// digest with the tags of the manifest and of its referrers, which go with
// it) that an immutability rule forbids.
func (ix *Indexer) CheckImmutableDelete(ctx context.Context, repo, ref string) error {
	if !strings.Contains(ref, ":") {
		return ix.CheckImmutable(ctx, repo, ref)
	}
	canonical, err := ix.db.LinkedManifest(ctx, repo, ref)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tags, err := ix.db.TagsOf(ctx, repo, canonical)
	if err != nil {
		return err
	}
	r, err := ix.db.GetRepository(ctx, repo)
	if err != nil {
		return nil
	}
	refs, err := ix.db.Referrers(ctx, r.ID, canonical, "", "", 1000)
	if err != nil {
		return err
	}
	for _, a := range refs {
		more, err := ix.db.TagsOf(ctx, repo, a.Digest)
		if err != nil {
			return err
		}
		tags = append(tags, more...)
	}
	return ix.CheckImmutable(ctx, repo, tags...)
}
