package builder

import (
	"errors"
	"fmt"

	"github.com/berth-registry/berth/storage/metadata"
)

// Error kinds; test with errors.Is. Dialects map them to their own codes.
var (
	ErrNotFound      = errors.New("build project not found")
	ErrExists        = errors.New("build project already exists")
	ErrInvalid       = errors.New("invalid")
	ErrNoHistory     = errors.New("no build history")
	ErrPluginMissing = errors.New("plugin not found")
	ErrPluginParam   = errors.New("plugin parameter error")
	ErrPluginCall    = errors.New("plugin call error")
	ErrTooLarge      = errors.New("too large")
	ErrUnavailable   = errors.New("builder unavailable")
)

// Error is a builder failure with a message fit for a client.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is matches the kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
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
