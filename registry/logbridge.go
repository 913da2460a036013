package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
)

// bridgeDistributionLogs routes distribution's logrus output into berth's
// slog logger, so berth writes one log stream in one format. Distribution's
// info lines (per-request chatter that berth's own request log replaces) are
// demoted to debug.
func bridgeDistributionLogs(log *slog.Logger) {
	logrus.SetOutput(io.Discard)
	// Below warn, distribution's lines end at debug (see Fire): unless
	// berth logs at debug, logrus need not build them at all (it did for
	// every request: 3% of the CPU of a manifest push).
	level := logrus.WarnLevel
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = logrus.DebugLevel
	}
	logrus.SetLevel(level)
	logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	logrus.AddHook(&slogHook{log: log})
}

type slogHook struct{ log *slog.Logger }

func (h *slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *slogHook) Fire(e *logrus.Entry) error {
	level := slog.LevelDebug
	switch e.Level {
	case logrus.WarnLevel:
		level = slog.LevelWarn
	case logrus.ErrorLevel, logrus.FatalLevel, logrus.PanicLevel:
		level = slog.LevelError
	}
	// Client errors (404s, refused credentials) are not berth's errors:
	// berth's request log already records their status.
	if e.Message == "response completed with error" || e.Message == "error authorizing context: authentication required" {
		if status, ok := e.Data["http.response.status"]; !ok || fmt.Sprint(status) < "500" {
			level = slog.LevelDebug
		}
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !h.log.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data)+1)
	attrs = append(attrs, slog.String("component", "distribution"))
	for k, v := range e.Data {
		switch k {
		case "http.request.useragent", "http.request.remoteaddr", "http.request.host":
			continue // berth's request log carries these once
		}
		attrs = append(attrs, slog.String(k, truncate(fmt.Sprint(v), 1024))) // names and paths come from clients
	}
	h.log.LogAttrs(ctx, level, truncate(e.Message, 2048), attrs...)
	return nil
}
