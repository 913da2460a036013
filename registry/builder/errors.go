package builder

import (
	"errors"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// Error kinds; test with errors.Is. Dialects map them to their own codes.
// The first three are the core's kinds; errors are *domain.Error.
var (
	ErrNotFound      = domain.ErrNotFound
	ErrExists        = domain.ErrAlreadyExists
	ErrInvalid       = domain.ErrInvalid
	ErrPluginMissing = errors.New("plugin not found")
	ErrPluginParam   = errors.New("plugin parameter error")
	ErrPluginCall    = errors.New("plugin call error")
	ErrTooLarge      = errors.New("too large")
	ErrUnavailable   = errors.New("builder unavailable")
)

func errorf(kind error, format string, args ...any) error {
	return domain.Errorf(kind, format, args...)
}

// translate maps database errors to the core's kinds (which the builder's
// ErrNotFound and ErrExists are).
func translate(err error, what string) error { return domain.Translate(err, what) }

// MissingProject is the error of a build project that does not exist,
// exactly as GetProject answers it: a dialect answers a project the
// caller may not see with it too.
func MissingProject(name string) error { return translate(metadata.ErrNotFound, "project "+name) }
