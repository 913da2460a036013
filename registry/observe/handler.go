package observe

import (
	"context"
	"log/slog"
)

// The keys Handler adds.
const (
	KeyRequestID = "request_id"
	KeyUser      = "user"
)

// handler adds the request id and the user of the request a record is
// logged for (its context) to the record.
type handler struct{ next slog.Handler }

// Handler wraps h so that every record logged with a request's context
// carries request_id and, once the caller is identified, user. Call sites
// never add them by hand. Records are passed on as they are otherwise;
// attributes added by a group (WithGroup) would hold the two as well, so
// berth opens none.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{next: h}
}

// Logger is log whose handler is Handler (log itself when it is already).
func Logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	if _, ok := log.Handler().(handler); ok {
		return log
	}
	return slog.New(Handler(log.Handler()))
}

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, rec slog.Record) error {
	if r := from(ctx); r != nil {
		// A line that names them already (the access log, which builds its
		// attributes in one go) is left as it is. The Logger made rec for
		// this call alone: adding to it shares nothing.
		hasID, hasUser := false, false
		rec.Attrs(func(a slog.Attr) bool {
			hasID = hasID || a.Key == KeyRequestID
			hasUser = hasUser || a.Key == KeyUser
			return true
		})
		var u *string
		if a := r.actor.Load(); a != nil {
			u = &a.Name
		}
		switch {
		case !hasID && !hasUser && u != nil:
			rec.AddAttrs(slog.String(KeyRequestID, r.id), slog.String(KeyUser, *u))
		case !hasID:
			rec.AddAttrs(slog.String(KeyRequestID, r.id))
		}
		if hasID && !hasUser && u != nil {
			rec.AddAttrs(slog.String(KeyUser, *u))
		}
	}
	return h.next.Handle(ctx, rec)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{next: h.next.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{next: h.next.WithGroup(name)}
}
