// Package app assembles berth: it opens the metadata database, bootstraps
// identity and access, builds the registry core, mounts every API beside
// it on the core's router, and runs the image builder, handing one logger
// down to all of them. cmd/berth parses flags and calls it; tests build
// the whole server in this process with it (app/apptest).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/charts"
	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/ext/berthv1"
	"github.com/berth-registry/berth/ext/bkrepo"
	"github.com/berth-registry/berth/ext/ccr"
	"github.com/berth-registry/berth/ext/console"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/ext/harborv1"
	"github.com/berth-registry/berth/ext/imagebuild"
	"github.com/berth-registry/berth/ext/swr"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// App is an assembled berth.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	db       *metadata.DB
	auth     *auth.Service
	registry *registry.Server
	builds   *builder.Service
}

// New assembles berth from cfg (validated by config.Load): every log line
// of a request, whoever writes it, carries the request id and the caller
// (observe.Handler). On failure nothing is left open.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	log = observe.Logger(log)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("dataDir: %w", err)
	}
	a := &App{cfg: cfg, log: log}
	if err := a.assemble(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) assemble(ctx context.Context) error {
	cfg := a.cfg
	var err error
	warnReadable(a.log, cfg.DataDir, cfg.Database.URL)
	if a.db, err = metadata.Open(ctx, cfg.Database.URL, cfg.Database.Timeout); err != nil {
		return &storage.FieldError{Key: "database.url", Msg: err.Error()}
	}
	a.db.SetLogger(a.log)
	authCfg := cfg.Auth
	authCfg.AutoCreateProjects = cfg.AutoCreateProjects
	if a.auth, err = auth.New(ctx, authCfg, a.db, a.log); err != nil {
		return err
	}
	if err := a.auth.Bootstrap(ctx, cfg.AdminPassword, cfg.DataDir); err != nil {
		return err
	}
	if a.registry, err = registry.New(ctx, cfg.Config, a.db, a.auth, a.log); err != nil {
		return err
	}
	return a.mount()
}

// mount puts every API beside the OCI registry on the core's router, and
// makes the image builder, which starts once berth listens (Start).
func (a *App) mount() error {
	r := a.registry.Router()
	r.Handle("/service/token", a.auth.TokenHandler())
	core := dialect.Core{Auth: a.auth, Dom: a.registry.Domain(), Log: a.log, PublicURL: a.registry.PublicURL}
	berthv1.Mount(r, core, berthv1.Services{GC: a.registry.GC(), Retention: a.registry.Retention(), Events: a.registry.Events(), Proxy: a.registry.Proxy()})
	swr.Mount(r, core)
	bkrepo.Mount(r, core)
	harborv1.Mount(r, core)
	chartSvc := charts.New(core.Dom, a.cfg.Charts, a.log)
	charts.Mount(r, core, chartSvc)
	if err := ccr.Mount(r, core, a.cfg.CCR, chartSvc); err != nil {
		return &storage.FieldError{Key: "ccr.instances", Msg: err.Error()}
	}
	a.builds = builder.New(a.cfg.ImageBuild, a.db, core.Dom, imagebuild.Tokens{Auth: a.auth, TTL: a.cfg.ImageBuild.Timeout}, a.log)
	imagebuild.Mount(r, core, a.builds)
	console.Mount(r, core, console.Services{GC: a.registry.GC(), Retention: a.registry.Retention()})
	return nil
}

// Handler is berth's whole HTTP surface.
func (a *App) Handler() http.Handler { return a.registry.Handler() }

// Start starts what needs the address berth listens on: the image
// builder pulls its bases and pushes its results there.
func (a *App) Start(ctx context.Context, addr string) error {
	a.registry.Listening(addr, a.cfg.TLS.Certificate != "")
	publicHost := ""
	if u, err := url.Parse(a.cfg.PublicURL); err == nil && a.cfg.PublicURL != "" {
		publicHost = u.Host
	}
	if err := a.builds.Start(ctx, addr, publicHost); err != nil {
		return fmt.Errorf("imagebuild: %w", err)
	}
	return nil
}

// Listen opens the configured address and starts what needs it.
func (a *App) Listen(ctx context.Context) (net.Listener, error) {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("addr: %w", err)
	}
	if err := a.Start(ctx, ln.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Serve answers on ln (from Listen) until ctx is cancelled; then builds
// in flight finish (or are marked failed) while berth still answers their
// pushes, berth stops accepting connections and waits up to
// shutdownTimeout for requests in flight before closing them, and
// everything is closed. It returns nil after a clean drain.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLS.Certificate != "" {
			errc <- srv.ServeTLS(ln, a.cfg.TLS.Certificate, a.cfg.TLS.Key)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		_ = a.Close()
		return err
	case <-ctx.Done():
	}
	a.shutdownBuilds()
	a.log.Info("shutting down: draining requests in flight", "timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("shutdown timeout reached: closing remaining connections")
		_ = srv.Close()
	}
	if cerr := a.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// shutdownBuilds lets builds in flight finish for up to shutdownTimeout.
func (a *App) shutdownBuilds() {
	if a.builds == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.builds.Shutdown(ctx)
}

// Close stops the builder and the registry's background work, writes
// what is pending and closes the database. Serve calls it.
func (a *App) Close() error {
	var errs []error
	if a.builds != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.builds.Shutdown(ctx)
		cancel()
		a.builds = nil
	}
	if a.registry != nil {
		errs = append(errs, a.registry.Close())
		a.registry = nil
	}
	if a.db != nil {
		errs = append(errs, a.db.Close())
		a.db = nil
	}
	return errors.Join(errs...)
}

// warnReadable makes the SQLite database private to berth's user (it holds
// the signing key unless auth.signingKey is set, and password hashes) and
// warns when the data directory is open to other users.
func warnReadable(log *slog.Logger, dataDir, dsn string) {
	if fi, err := os.Stat(dataDir); err == nil && fi.Mode().Perm()&0o007 != 0 {
		log.Warn("the data directory is readable by other users; it holds the metadata database and the generated admin password: chmod o-rwx it",
			"dataDir", dataDir, "mode", fi.Mode().Perm().String())
	}
	tightened, err := metadata.SecureFiles(dsn)
	for _, p := range tightened {
		log.Warn("the metadata database was readable by other users (it holds secrets): made it readable by berth's user only", "file", p)
	}
	if err != nil {
		log.Warn("cannot make the metadata database private", "err", err)
	}
}
