package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/distribution/distribution/v3/configuration"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// Server is a running registry core: distribution's app, berth's own view of
// storage, and the router every dialect mounts its routes on.
type Server struct {
	cfg      Config
	log      *slog.Logger
	app      *handlers.App
	driver   storagedriver.StorageDriver
	router   *mux.Router
	v2routes *mux.Router
	db       *metadata.DB
	ix       *index.Indexer
	domain   *domain.Service
	pulls    *index.Pulls
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
	db, err := metadata.Open(ctx, cfg.Database.URL)
	if err != nil {
		return nil, &storage.FieldError{Key: "database.url", Msg: err.Error()}
	}
	ix := index.New(db, log, cfg.AutoCreateProjects)
	dc := cfg.distributionConfig(secret)
	dc.Middleware["registry"] = []configuration.Middleware{{
		Name: index.MiddlewareName, Options: configuration.Parameters{"indexer": ix},
	}}
	app, err := newApp(ctx, dc)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, app: app, driver: driver, db: db, ix: ix, domain: domain.New(ix), v2routes: v2.Router()}
	if err := s.domain.Bootstrap(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("registry: bootstrap: %w", err)
	}
	s.pulls = index.NewPulls(db, log, cfg.Database.PullFlushInterval)
	s.router = s.routes()
	return s, nil
}

// Domain is the domain service every dialect uses.
func (s *Server) Domain() *domain.Service { return s.domain }

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

// Close stops distribution's background work (upload purger, notifications),
// writes pending pull counts and closes the database.
func (s *Server) Close() error {
	err := s.app.Shutdown()
	if s.pulls != nil {
		if perr := s.pulls.Close(context.Background()); perr != nil && err == nil {
			err = perr
		}
	}
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
