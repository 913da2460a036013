package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	distauth "github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/events"
	"github.com/berth-registry/berth/registry/gc"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/registry/proxy"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/upload"
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
	uploads  *upload.Store // berth's push path (nil: distribution's)
	domain   *domain.Service
	pulls    *index.Pulls
	access   AccessControl
	hot      *hotManifests // nil: manifest cache off
	// the upload purger (purge.go)
	stopPurge context.CancelFunc
	purgeDone chan struct{}
	gc        *gc.Collector
	retention *retention.Runner
	activity  observe.Activity // requests that change something, in flight: background work gives way
	events    *events.Service
	fast      fastRoutes // see manifestroute.go
	proxy     *proxy.Service
	// controller is the same access controller distribution uses, for the
	// checks berth makes before handing a request to distribution.
	controller distauth.AccessController
}

// AccessControl is what the core needs from the identity layer above it.
type AccessControl interface {
	// AccessController names the distribution access controller to use and
	// its options, given the function that computes the token realm.
	AccessController(realm func(*http.Request) string) (name string, options map[string]any)
	// VisibleProjectsFor lists the projects the caller of r may see (nil: all).
	VisibleProjectsFor(r *http.Request) ([]int64, error)
}

// tokenRealm is where clients fetch tokens: the public URL when set, else
// the address the client used.
func (s *Server) tokenRealm(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/") + "/service/token"
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/service/token"
}

// New validates cfg, opens and checks storage, and builds distribution's
// app over the metadata database db (the caller's: it opens and closes
// it) with access deciding who may do what on /v2 (nil: an open registry,
// for tests and benchmarks of the core alone). It returns an error, never
// panics, on bad configuration or an unreachable backend.
func New(ctx context.Context, cfg Config, db *metadata.DB, access AccessControl, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = observe.Logger(log) // every line of a request names it
	bridgeDistributionLogs(log)

	driver, err := storage.Open(ctx, &cfg.Storage)
	if err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if secret == "" {
		if secret, err = sharedSecret(ctx, driver, db); err != nil {
			return nil, err
		}
	}
	ix := index.New(db, log, cfg.AutoCreateProjects)
	if cfg.Storage.Redirect {
		ix.ServeRedirects()
	}
	uploads, err := newUploads(ctx, &cfg.Storage, driver)
	if err != nil {
		return nil, err
	}
	ix.UseUploads(uploads)
	s := &Server{cfg: cfg, log: log, driver: driver, db: db, ix: ix, domain: domain.New(ix, log), v2routes: v2.Router(), access: access, uploads: uploads}
	s.events = events.New(db, cfg.Events, cfg.PublicURL, log)
	dc := cfg.distributionConfig(secret)
	dc.Middleware["registry"] = []configuration.Middleware{{
		Name: index.MiddlewareName, Options: configuration.Parameters{"indexer": ix},
	}}
	if access != nil {
		name, params := access.AccessController(s.tokenRealm)
		dc.Auth = configuration.Auth{name: params}
		if s.controller, err = distauth.GetAccessController(name, params); err != nil {
			return nil, fmt.Errorf("registry: access controller: %w", err)
		}
	}
	if s.app, err = newApp(ctx, dc); err != nil {
		return nil, err
	}
	if err := s.domain.Bootstrap(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("registry: bootstrap: %w", err)
	}
	s.ix.StartSync(ctx)
	s.startPurger(ctx)
	s.ix.SetGCDelay(cfg.GC.Delay)
	s.gc = gc.New(cfg.GC, gc.Deps{DB: db, Driver: driver, Mirror: s.ix.Settle, Forget: s.ix.ForgetBlob, Owner: s.ix.Owner()}, log)
	s.gc.Start(ctx)
	s.retention = retention.NewRunner(s.ix, log)
	s.retention.GiveWayTo(&s.activity)
	db.CheckpointsGiveWay(func(ctx context.Context) error {
		_, err := s.activity.GiveWay(ctx, observe.GiveWaySettle, observe.GiveWayMost)
		return err
	})
	s.retention.StartSchedules(ctx, time.Minute)
	mirrors, _ := cfg.Proxy.ParseMirrors() // checked by Validate
	s.proxy = proxy.New(s.ix, log, s.ix.Owner(), secret, mirrors)
	s.ix.SetPushGuard(s.proxy.RefusePush)
	s.pulls = index.NewPulls(db, log, cfg.Database.PullFlushInterval)
	s.proxy.StartEviction(proxy.EvictConfig{Interval: cfg.Proxy.EvictInterval, Grace: cfg.Proxy.EvictGrace, FlushPulls: s.pulls.Flush})
	s.domain.CountDownloads(s.pulls)
	if s.hot, err = newHotManifests(ctx, db, cfg.ManifestCache); err != nil {
		s.Close()
		return nil, err
	}
	s.router = s.routes()
	s.events.Start()
	return s, nil
}

// Events records and delivers events (for the management API).
func (s *Server) Events() *events.Service { return s.events }

// Domain is the domain service every dialect uses.
func (s *Server) Domain() *domain.Service { return s.domain }

// GC is the garbage collector (for the management API).
func (s *Server) GC() *gc.Collector { return s.gc }

// Retention runs retention policies (for the management API).
func (s *Server) Retention() *retention.Runner { return s.retention }

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
	return withRequestLog(s.log, withActivity(&s.activity, s.withEvents(withRecovery(s.log, withBodyProgress(s.cfg.BodyTimeout, withUnavailable(s.log, s.db, http.HandlerFunc(s.serveHTTP)))))))
}

// Close stops distribution's background work (upload purger, notifications)
// and writes pending pull counts; the database stays open (its opener
// closes it).
// Listening tells the server the address it answers on (host:port), from
// which other replicas reach it unless proxy.peerUrl says otherwise.
func (s *Server) Listening(addr string, tls bool) {
	u := s.cfg.Proxy.PeerURL
	if u == "" {
		u = peerURL(addr, tls)
	}
	s.proxy.SetPeer(u)
}

// peerURL is the address of a server listening on addr: its host, or the
// machine's host name when it listens on every interface.
func peerURL(addr string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, err = os.Hostname(); err != nil {
			return ""
		}
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

func (s *Server) Close() error {
	if s.proxy != nil {
		s.proxy.Close() // its downloads store through distribution's app
	}
	err := s.app.Shutdown()
	if s.gc != nil {
		s.gc.Stop()
	}
	if s.retention != nil {
		s.retention.StopSchedules()
	}
	s.stopPurger()
	s.ix.StopSync(context.Background())
	if s.pulls != nil {
		if perr := s.pulls.Close(context.Background()); perr != nil && err == nil {
			err = perr
		}
	}
	if s.events != nil {
		s.events.Close()
	}
	if s.hot != nil {
		if herr := s.hot.index.Close(); herr != nil && err == nil {
			err = herr
		}
	}
	return err
}

// PublicURL is scheme://host[:port] clients use to reach berth: the
// configured public URL, else the request's scheme (TLS or
// X-Forwarded-Proto) and Host.
func (s *Server) PublicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// PublicHost is the host (and port) clients use to reach berth, without a
// scheme: the public URL's when configured, else the request's Host.
func (s *Server) PublicHost(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return r.Host
}
