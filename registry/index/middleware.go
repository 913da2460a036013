package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/distribution/distribution/v3"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// MiddlewareName is the registry middleware that writes the index. Its
// options carry the *Indexer under the key "indexer".
const MiddlewareName = "berth-index"

func init() {
	// Registration is distribution's own hook; it fails only on a duplicate name.
	_ = registrymiddleware.Register(MiddlewareName, func(_ context.Context, ns distribution.Namespace, driver storagedriver.StorageDriver, opts map[string]any) (distribution.Namespace, error) {
		ix, ok := opts["indexer"].(*Indexer)
		if !ok {
			return nil, fmt.Errorf("%s: missing indexer option", MiddlewareName)
		}
		wrapped := ix.Wrap(ns)
		ix.setNamespace(wrapped, ns, driver)
		return wrapped, nil
	})
}

var timeNow = time.Now

// Wrap applies the index to a namespace: writes through it are indexed and
// catalog and tag lists are read from the index.
func (ix *Indexer) Wrap(ns distribution.Namespace) distribution.Namespace {
	return &namespace{Namespace: ns, ix: ix}
}

type namespace struct {
	distribution.Namespace
	ix *Indexer
}

func (n *namespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	r, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &repository{Repository: r, ix: n.ix}, nil
}

// Repositories answers /v2/_catalog from the index: names in byte order
// after last, io.EOF when nothing follows.
func (n *namespace) Repositories(ctx context.Context, repos []string, last string) (int, error) {
	if len(repos) == 0 {
		return 0, nil
	}
	names, err := n.ix.db.CatalogPage(ctx, last, len(repos)+1, visibleProjects(ctx))
	if err != nil {
		return 0, err
	}
	filled := copy(repos, names)
	if len(names) <= len(repos) {
		return filled, io.EOF
	}
	return filled, nil
}

// Remove deletes a repository: every tag and manifest, each a change of
// its own (index first, then storage), then the repository itself when it
// is empty, with its directory in storage (layer links, uploads). A push
// that fills the repository meanwhile keeps it (the delete happened first).
func (n *namespace) Remove(ctx context.Context, name reference.Named) error {
	ix := n.ix
	repo, err := n.Repository(ctx, name)
	if err != nil {
		return err
	}
	ts := repo.Tags(ctx)
	all, err := ts.All(ctx)
	if err != nil {
		return err
	}
	if err := ix.CheckImmutable(ctx, name.Name(), all...); err != nil {
		return err // refused whole, before anything is deleted
	}
	for _, tag := range all {
		if err := ts.Untag(ctx, tag); err != nil && !isUnknownTag(err) {
			return err
		}
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return err
	}
	digests, err := ix.db.RepositoryArtifactDigests(ctx, name.Name())
	if err != nil {
		return ix.dbError(ctx, err)
	}
	for _, d := range digests {
		if err := ms.Delete(ctx, digest.Digest(d)); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) {
			return err
		}
	}
	deleted, err := ix.db.DeleteEmptyRepository(ctx, name.Name())
	if err != nil {
		return ix.dbError(ctx, err)
	}
	if err := ix.touchCharts(ctx, name.Name()); err != nil {
		ix.log.ErrorContext(ctx, "index: chart generation", "repository", name.Name(), "err", err)
	}
	if !deleted {
		return nil
	}
	if rr, ok := n.Namespace.(distribution.RepositoryRemover); ok {
		if err := rr.Remove(ctx, name); err != nil && !IsPathNotFound(err) {
			ix.log.WarnContext(ctx, "index: removing a deleted repository's directory", "repository", name.Name(), "err", err)
		}
	}
	return ix.restoreRepository(ctx, name)
}

func (n *namespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	re, ok := n.Namespace.(distribution.RepositoryEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return re.Enumerate(ctx, ingester)
}

type visibleKey struct{}

// WithVisibleProjects limits catalog answers in ctx to the given project ids
// (nil: all). The access layer sets it for callers who may not see every project.
func WithVisibleProjects(ctx context.Context, ids []int64) context.Context {
	return context.WithValue(ctx, visibleKey{}, ids)
}

func visibleProjects(ctx context.Context) []int64 {
	ids, _ := ctx.Value(visibleKey{}).([]int64)
	return ids
}

type repository struct {
	distribution.Repository
	ix *Indexer
}

func (r *repository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return &manifests{ManifestService: ms, repo: r}, nil
}

func (r *repository) Tags(ctx context.Context) distribution.TagService {
	return &tags{TagService: r.Repository.Tags(ctx), repo: r}
}

type subjectKey struct{}

// WithSubjectHolder returns a context in which a manifest put records the
// digest of its subject, and a function that returns it ("" when none): the
// registry answers it in the OCI-Subject header.
func WithSubjectHolder(ctx context.Context) (context.Context, func() string) {
	holder := new(string)
	return context.WithValue(ctx, subjectKey{}, holder), func() string { return *holder }
}

func recordSubject(ctx context.Context, subject string) {
	if h, ok := ctx.Value(subjectKey{}).(*string); ok {
		*h = subject
	}
}
