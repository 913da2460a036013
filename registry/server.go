package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/storage"
)

// Server is a running registry core: distribution's app, berth's own view of
// storage, and the router every dialect mounts its routes on.
type Server struct {
	cfg    Config
	log    *slog.Logger
	app    *handlers.App
	driver storagedriver.StorageDriver
	router *mux.Router
}

// New validates cfg, opens and checks storage, and builds distribution's
// app. It returns an error, never panics, on bad configuration or an
// unreachable backend.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bridgeDistributionLogs(log)

	driver, err := storage.Open(ctx, &cfg.Storage)
	if err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if secret == "" {
		if secret, err = storage.SharedSecret(ctx, driver); err != nil {
			return nil, err
		}
	}
	app, err := newApp(ctx, cfg.distributionConfig(secret))
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, app: app, driver: driver}
	s.router = s.routes()
	return s, nil
}

// newApp calls distribution's NewApp, turning its panics into errors.
func newApp(ctx context.Context, dc *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registry: invalid configuration: %v", r)
		}
	}()
	return handlers.NewApp(ctx, dc), nil
}

// Router is the one router of berth: dialects add their routes to it. A
// request no route matches falls through to distribution when its path is
// under /v2, so a dialect may mount exact /v2/manage/... routes without
// shadowing any OCI repository.
func (s *Server) Router() *mux.Router { return s.router }

// Driver is berth's own handle on blob storage.
func (s *Server) Driver() storagedriver.StorageDriver { return s.driver }

// Handler is the whole HTTP surface with berth's request middleware.
func (s *Server) Handler() http.Handler {
	return withRequestLog(s.log, withRecovery(s.log, withUnavailable(s.router)))
}

// Close stops distribution's background work (upload purger, notifications).
func (s *Server) Close() error { return s.app.Shutdown() }
