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
	ErrNoHistory     = errors.New("no build history")
	ErrPluginMissing = errors.New("plugin not found")
	ErrPluginParam   = errors.New("plugin parameter error")
	ErrPluginCall    = errors.New("plugin call error")
	ErrTooLarge      = errors.New("too large")
	ErrUnavailable   = errors.New("builder unavailable")
)

func errorf(kind error, format string, args ...any) error {
	return domain.Errorf(kind, format, args...)
}

// translate maps database errors to builder kinds.
func translate(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metadata.ErrNotFound):
		return errorf(ErrNotFound, "%s not found", what)
	case errors.Is(err, metadata.ErrExists):
		return errorf(ErrExists, "%s already exists", what)
	}
	return err
}
