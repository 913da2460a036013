// Package domain is the one Go API every management dialect uses: projects,
// repositories, artifacts, tags, manifests and blobs, with validation and
// pagination done once here. Dialects map its error kinds to their own codes.
package domain

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// Error kinds; test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrInvalid       = errors.New("invalid")
	ErrDenied        = errors.New("denied")
	ErrNotEmpty      = errors.New("not empty")
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrUnavailable: storage or the metadata database did not answer (or
	// ran out of time); nothing was changed, the client may retry: 503.
	ErrUnavailable = errors.New("service unavailable")
	// ErrFull: a disk of storage or of the database is full; nothing was
	// changed: 507.
	ErrFull = errors.New("storage full")
	// ErrReferenced: a manifest a tagged index refers to (CheckManifestDelete).
	ErrReferenced = errors.New("referenced by a tagged index")
)

// Classify turns an infrastructure failure (storage or database unreachable,
// out of time, or full) into ErrUnavailable or ErrFull, and leaves every
// other error as it is. Every dialect classifies before its error table.
func Classify(err error) error {
	var de *Error
	switch {
	case err == nil || errors.As(err, &de):
		return err
	case index.IsImmutable(err):
		return &Error{Kind: ErrDenied, Msg: err.Error()}
	case storage.IsFull(err) || metadata.IsFull(err):
		return &Error{Kind: ErrFull, Msg: "storage is full: nothing was changed, try again once space is freed"}
	case storage.IsUnavailable(err) || metadata.IsUnavailable(err):
		return &Error{Kind: ErrUnavailable, Msg: "a backend (storage or the metadata database) did not answer: nothing was changed, try again later"}
	}
	return err
}

// MarkFault records on the request ctx belongs to that the metadata
// database failed it, when err says a backend failed and storage did not
// (a guarded storage driver marks its own failures where they happen, so
// an ErrUnavailable or ErrFull storage did not mark is the database's):
// the backend metrics tell the two apart.
func MarkFault(ctx context.Context, err error) {
	if st, _ := storage.FaultsBy(ctx); st != storage.NoFault || err == nil {
		return
	}
	switch {
	case metadata.IsFull(err) || errors.Is(err, ErrFull):
		storage.MarkDatabase(ctx, storage.Full)
	case metadata.IsUnavailable(err) || errors.Is(err, ErrUnavailable):
		storage.MarkDatabase(ctx, storage.Unavailable)
	}
}

// Error is a domain failure with a message fit for a client.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is matches the kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Errorf makes an Error of a kind; packages beside the domain (charts, the
// builder) use it so that every dialect's one error table sees one type.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func errorf(kind error, format string, args ...any) error { return Errorf(kind, format, args...) }

func translate(err error, what string) error { return Translate(err, what) }

// Translate maps database and index errors to domain kinds, naming what
// was looked for; packages beside the domain (the builder) use it too.
func Translate(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metadata.ErrNotFound):
		return errorf(ErrNotFound, "%s not found", what)
	case errors.Is(err, metadata.ErrExists):
		return errorf(ErrAlreadyExists, "%s already exists", what)
	case errors.Is(err, metadata.ErrNotEmpty):
		return errorf(ErrNotEmpty, "%s is not empty", what)
	case errors.Is(err, index.ErrNoProject), errors.Is(err, index.ErrPushRefused):
		return errorf(ErrDenied, "%s", err.Error())
	}
	return err
}

// Durable makes what ctx's request wrote durable: to storage without a
// sync (the OCI API's deferred syncs, storage.WithDeferredSyncs; a request
// without them has nothing deferred), and to the index
// (metadata.Durable), side by side. A dialect's success waits for it, so
// a failure is answered in the dialect's own envelope (Classify: a full
// disk is ErrFull).
func Durable(ctx context.Context) error {
	if err := WithIndex(ctx, func() error { return storage.Barrier(ctx) })(); err != nil {
		return storage.Observe(ctx, fmt.Errorf("storage sync: %w", err))
	}
	return nil
}

// WithIndex is barrier (a request's storage syncs) followed by nothing
// more when the request committed nothing to the index; otherwise the
// index's sync (metadata.Durable) runs beside it, and both must succeed.
func WithIndex(ctx context.Context, barrier func() error) func() error {
	return func() error {
		if !metadata.Wrote(ctx) {
			return barrier()
		}
		index := make(chan error, 1)
		go func() { index <- metadata.Durable(ctx) }()
		err := barrier()
		if ierr := <-index; ierr != nil && err == nil {
			err = fmt.Errorf("index: %w", ierr)
		}
		return err
	}
}

// SuccessHeaders are headers a success may carry that a failure answered in
// its place must not (the OCI API's and every dialect's).
var SuccessHeaders = []string{"Content-Length", "Content-Range", "Etag", "Last-Modified", "Content-Disposition",
	"Docker-Content-Digest", "Accept-Ranges", "Cache-Control", "Location", "Range", "Docker-Upload-Uuid"}
