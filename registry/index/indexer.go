package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/upload"
)

// ErrQuotaExceeded is returned for a push that would take a project over
// its quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// CheckQuota refuses a push into repo of blobs that the project does not
// hold yet when they would take it over its quota (-1: unlimited). With
// blobs nil it refuses only a project already at or over its quota. The
// check is not transactional with the push: concurrent pushes may overshoot
// by what is in flight.
func (ix *Indexer) CheckQuota(ctx context.Context, repo string, blobs []metadata.Blob) error {
	_, err := ix.checkQuota(ctx, repo, blobs)
	return err
}

// checkQuota is CheckQuota returning the project it looked up (ID 0 when
// the project does not exist yet), so a manifest put looks it up once.
func (ix *Indexer) checkQuota(ctx context.Context, repo string, blobs []metadata.Blob) (metadata.Project, error) {
	p, err := ix.db.LookupProject(ctx, ProjectName(repo))
	if errors.Is(err, metadata.ErrNotFound) {
		return metadata.Project{}, nil // created by this push, unlimited
	}
	if err != nil || p.QuotaBytes < 0 {
		return p, err
	}
	need := int64(0)
	if blobs != nil {
		if need, err = ix.db.NewBlobBytes(ctx, p.ID, blobs); err != nil {
			return p, err
		}
	}
	if p.StorageUsed+need > p.QuotaBytes || (blobs == nil && p.StorageUsed >= p.QuotaBytes) {
		return p, fmt.Errorf("%w: project %q uses %d of its %d bytes and this push needs %d more", ErrQuotaExceeded, p.Name, p.StorageUsed, p.QuotaBytes, need)
	}
	return p, nil
}

// ErrNoProject is returned for a push into a project that does not exist
// when projects are not created automatically.
var ErrNoProject = errors.New("project does not exist")

// Indexer writes storage events into the metadata index. One Indexer serves
// one distribution app; it learns the app's namespace when distribution
// initialises the middleware.
type Indexer struct {
	db         *metadata.DB
	log        *slog.Logger
	autoCreate bool
	redirects  bool // storage redirects on: distribution serves blobs
	pushable   pushMemo
	sync       *syncer // see sync.go
	gcDelay    time.Duration
	seen       seenMemo      // blob links refreshed lately (blobs.go)
	gone       seenMemo      // blobs whose data a GET found gone (blobserve.go)
	uploads    *upload.Store // nil: distribution writes uploads
	pushGuard  func(ctx context.Context, repo string) error

	mu     sync.RWMutex
	ns     distribution.Namespace // wrapped: changes go through the index
	plain  distribution.Namespace // distribution's own: storage only
	driver storagedriver.StorageDriver
}

// New returns an Indexer over db. With autoCreate, a push into an unknown
// project creates it; otherwise the push is refused.
func New(db *metadata.DB, log *slog.Logger, autoCreate bool) *Indexer {
	return &Indexer{db: db, log: log, autoCreate: autoCreate, sync: newSyncer()}
}

// ServeRedirects leaves blob GETs to distribution, which redirects clients
// to the storage backend (storage.redirect); call it before serving.
func (ix *Indexer) ServeRedirects() { ix.redirects = true }

// UseUploads has uploads written by st instead of distribution's blob
// writer; call it before serving.
func (ix *Indexer) UseUploads(st *upload.Store) { ix.uploads = st }

// DB is the index database.
func (ix *Indexer) DB() *metadata.DB { return ix.db }

// Namespace is distribution's namespace with the index middleware applied:
// changes made through it update the index like any client's.
func (ix *Indexer) Namespace() distribution.Namespace {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.ns
}

func (ix *Indexer) setNamespace(ns, plain distribution.Namespace, driver storagedriver.StorageDriver) {
	ix.mu.Lock()
	ix.ns, ix.plain, ix.driver = ns, plain, driver
	ix.mu.Unlock()
}

// storageDriver is the driver distribution's app stores through.
func (ix *Indexer) storageDriver() storagedriver.StorageDriver {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.driver
}

// ProjectName is the first path component of a repository name.
func ProjectName(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}

// CheckPush reports whether a push into repo may start: its project exists,
// or pushes may create it. It creates nothing: the project is created with
// the first manifest, when the pusher is known.
func (ix *Indexer) CheckPush(ctx context.Context, repo string) error {
	if err := ix.guardPush(ctx, repo); err != nil {
		return err
	}
	_, err := ix.checkPush(ctx, repo)
	return err
}

// CheckUpload is CheckPush for the requests of a blob upload, which trust
// a project found for pushMemoTTL (see pushMemo).
func (ix *Indexer) CheckUpload(ctx context.Context, repo string) error {
	if err := ix.guardPush(ctx, repo); err != nil {
		return err
	}
	now := time.Now()
	name := ProjectName(repo)
	if strings.Contains(repo, "/") && ix.pushable.has(name, now) {
		return nil
	}
	found, err := ix.checkPush(ctx, repo)
	if found {
		ix.pushable.add(name, now)
	}
	return err
}

// ErrPushRefused is a push the push guard refused (a proxy project's).
var ErrPushRefused = errors.New("push refused")

// SetPushGuard names a check every push (CheckPush, CheckUpload) passes
// first: the pull-through cache refuses pushes into proxy projects. Call
// it before serving; its errors wrap ErrPushRefused.
func (ix *Indexer) SetPushGuard(guard func(ctx context.Context, repo string) error) {
	ix.pushGuard = guard
}

func (ix *Indexer) guardPush(ctx context.Context, repo string) error {
	if ix.pushGuard == nil {
		return nil
	}
	return ix.pushGuard(ctx, repo)
}

// checkPush is CheckPush, also saying whether the project exists.
func (ix *Indexer) checkPush(ctx context.Context, repo string) (found bool, err error) {
	name := ProjectName(repo)
	if !strings.Contains(repo, "/") {
		return false, fmt.Errorf("repository %q must be named <project>/<name>: %w", repo, ErrNoProject)
	}
	_, err = ix.db.LookupProject(ctx, name)
	if errors.Is(err, metadata.ErrNotFound) {
		if ix.autoCreate {
			return false, nil
		}
		return false, fmt.Errorf("project %q does not exist: %w", name, ErrNoProject)
	}
	return err == nil, err
}

// ProjectForPush returns the project a push into repo lands in, creating it
// (owned by the pusher) when allowed.
func (ix *Indexer) ProjectForPush(ctx context.Context, repo string) (metadata.Project, error) {
	name := ProjectName(repo)
	if !strings.Contains(repo, "/") {
		return metadata.Project{}, fmt.Errorf("repository %q must be named <project>/<name>: %w", repo, ErrNoProject)
	}
	p, err := ix.db.LookupProject(ctx, name)
	if err == nil || !errors.Is(err, metadata.ErrNotFound) {
		return p, err
	}
	if !ix.autoCreate {
		return p, fmt.Errorf("project %q does not exist: %w", name, ErrNoProject)
	}
	return ix.db.EnsureProject(ctx, name, pusher(ctx), 0)
}

// pusher is the authenticated user distribution put in the context.
func pusher(ctx context.Context) string {
	if s, ok := ctx.Value("auth.user.name").(string); ok {
		return s
	}
	return ""
}

// recordManifest indexes a manifest just stored in repo.
func (ix *Indexer) recordManifest(ctx context.Context, repo distribution.Repository, dgst digest.Digest, m distribution.Manifest) error {
	a, err := Describe(ctx, dgst, m, nil)
	if err != nil {
		return err
	}
	return ix.recordArtifact(ctx, repo, metadata.Project{}, a)
}

// recordArtifact indexes a manifest just stored in repo, described (without
// its config) by a. p is its project when the caller looked it up already
// (ID 0: look it up, or create it).
func (ix *Indexer) recordArtifact(ctx context.Context, repo distribution.Repository, p metadata.Project, a metadata.Artifact) error {
	name := repo.Named().Name()
	if p.ID == 0 {
		var err error
		if p, err = ix.ProjectForPush(ctx, name); err != nil {
			return err
		}
	}
	blobs := repo.Blobs(ctx)
	describeConfig(ctx, &a, blobs)
	a.PushedBy = pusher(ctx)
	a, err := ix.db.PutArtifact(ctx, p.ID, name, a)
	if err != nil {
		return err
	}
	if err := ix.recordChart(ctx, p.ID, a, blobs); err != nil {
		return err
	}
	if a.SubjectDigest != "" {
		recordSubject(ctx, a.SubjectDigest)
	}
	return nil
}

// dbError turns a database failure into what distribution answers: a
// missing project is DENIED, and an unreachable or full database marks the
// request (the HTTP layer then answers 503 or 507) and is UNAVAILABLE.
func (ix *Indexer) dbError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoProject):
		return errcode.ErrorCodeDenied.WithMessage(err.Error())
	case metadata.IsFull(err):
		storage.MarkDatabase(ctx, storage.Full)
		return errcode.ErrorCodeUnavailable.WithMessage("the metadata database's disk is full")
	case metadata.IsUnavailable(err):
		storage.MarkDatabase(ctx, storage.Unavailable)
		return errcode.ErrorCodeUnavailable.WithMessage("metadata database unavailable, try again later")
	}
	return err
}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
