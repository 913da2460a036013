// Package registry is berth's core: it embeds the CNCF distribution registry
// (handlers.NewApp) behind one gorilla/mux router on which every management
// dialect mounts its routes, and it owns the server's life cycle.
package registry

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/events"
	"github.com/berth-registry/berth/registry/gc"
	"github.com/berth-registry/berth/storage"
)

// Blob-descriptor cache kinds.
const (
	CacheInMemory = "inmemory"
	CacheRedis    = "redis"
	CacheNone     = "none"
)

// Config is what the core needs to serve the registry.
type Config struct {
	// PublicURL is how clients reach berth (scheme://host[:port]). When set
	// it is used for Location headers; otherwise the request's Host is.
	PublicURL string `yaml:"publicUrl"`
	// Secret signs upload state. Empty: a secret generated once and kept in
	// storage, so all replicas on the same storage share it.
	Secret string `yaml:"secret"`
	// Cache is the blob-descriptor cache: inmemory (default), redis or none.
	Cache string      `yaml:"cache"`
	Redis RedisConfig `yaml:"redis"`
	// CatalogMaxEntries caps the page size of /v2/_catalog.
	CatalogMaxEntries int `yaml:"catalogMaxEntries"`
	// ManifestCache bounds the in-memory manifest cache (0 disables it).
	ManifestCache int64 `yaml:"manifestCache"`
	// ShutdownTimeout is how long SIGTERM waits for requests in flight.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	// IdleTimeout closes a keep-alive connection idle for this long.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// BodyTimeout bounds the time each 16 KiB of a request body may take
	// to arrive: a body that trickles slower is cut (an upload stays
	// resumable from what arrived).
	BodyTimeout time.Duration `yaml:"bodyTimeout"`
	TLS         TLSConfig     `yaml:"tls"`
	// AutoCreateProjects lets a push into an unknown project create it;
	// otherwise such a push is refused with DENIED.
	AutoCreateProjects bool `yaml:"autoCreateProjects"`
	// ForeignLayerURLs is a regular expression the URLs of non-distributable
	// layers must match for a manifest to be accepted; empty refuses them.
	ForeignLayerURLs string         `yaml:"foreignLayerUrls"`
	Database         DatabaseConfig `yaml:"database"`
	Storage          storage.Config `yaml:"storage"`
	// GC is online garbage collection.
	GC gc.Config `yaml:"gc"`
	// Events are webhooks and the audit log.
	Events events.Config `yaml:"events"`
	// Proxy is the pull-through cache (proxy projects, mirror mode).
	Proxy ProxyConfig `yaml:"proxy"`
}

// ProxyConfig configures mirror mode: Docker's registry-mirrors and
// containerd's hosts.toml mirrors pull /v2/<name>/... without a project
// (containerd adds ?ns=<upstream host>), which berth serves from the proxy
// project configured for that upstream host.
type ProxyConfig struct {
	// Mirrors maps upstream hosts to proxy projects: "docker.io=hub,ghcr.io=ghcr".
	// A request without ?ns= is for docker.io (Docker's registry-mirrors).
	Mirrors string `yaml:"mirrors"`
	// EvictInterval is how often an instance checks the proxy projects
	// with a size cap and evicts from those over it (one instance at a
	// time; a fill that takes a project over its cap starts a check too).
	EvictInterval time.Duration `yaml:"evictInterval"`
	// EvictGrace keeps artifacts pulled or cached less than this ago from
	// eviction: clients may still be fetching their blobs, and another
	// replica's pulls reach the index within database.pullFlushInterval.
	EvictGrace time.Duration `yaml:"evictGrace"`
	// PeerURL is the address other replicas reach this one at
	// (http://10.0.0.7:5000): their clients of a blob this replica is
	// downloading stream it from here instead of waiting. Default: the
	// listen address, its host name when it listens on all interfaces.
	PeerURL string `yaml:"peerUrl"`
}

// ParseMirrors parses proxy.mirrors into host → project.
func (c ProxyConfig) ParseMirrors() (map[string]string, error) {
	out := map[string]string{}
	for item := range strings.SplitSeq(c.Mirrors, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		host, project, ok := strings.Cut(item, "=")
		host, project = strings.ToLower(strings.TrimSpace(host)), strings.TrimSpace(project)
		if !ok || host == "" || project == "" || strings.ContainsAny(host, "/ ") || strings.Contains(project, "/") {
			return nil, fieldErr("proxy.mirrors", "%q must be host=project pairs separated by commas, e.g. docker.io=hub", c.Mirrors)
		}
		if _, dup := out[host]; dup {
			return nil, fieldErr("proxy.mirrors", "names %s twice", host)
		}
		out[host] = project
	}
	return out, nil
}

// DatabaseConfig locates the metadata database.
type DatabaseConfig struct {
	// URL is postgres://... for PostgreSQL, or a SQLite file path
	// (default <dataDir>/berth.db).
	URL string `yaml:"url"`
	// PullFlushInterval is how often batched pull counts are written.
	PullFlushInterval time.Duration `yaml:"pullFlushInterval"`
	// Timeout bounds every database call (statement, transaction,
	// connection); beyond it the request gets 503.
	Timeout time.Duration `yaml:"timeout"`
}

// UseDataDir fills in the defaults that live in the data directory.
func (c *Config) UseDataDir(dataDir string) {
	c.Storage.UseDataDir(dataDir)
	if c.Database.URL == "" {
		c.Database.URL = filepath.Join(dataDir, "berth.db")
	}
}

// RedisConfig points the blob-descriptor cache at Redis (several replicas).
type RedisConfig struct {
	Addr     string `yaml:"addr"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
}

// TLSConfig serves HTTPS when both files are set.
type TLSConfig struct {
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"`
}

// Defaults returns the embedded defaults.
func Defaults() Config {
	return Config{
		Cache:             CacheInMemory,
		CatalogMaxEntries: 1000,
		ManifestCache:     defaultHotSize,
		ShutdownTimeout:   30 * time.Second,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       60 * time.Second,
		BodyTimeout:       60 * time.Second,
		Storage:           storage.Defaults(),
		Database:          DatabaseConfig{PullFlushInterval: 2 * time.Second, Timeout: 5 * time.Second},
		GC:                gc.Defaults(),
		Events:            events.Defaults(),
		Proxy:             ProxyConfig{EvictInterval: 5 * time.Minute, EvictGrace: time.Minute},
		ForeignLayerURLs:  `^https?://`,
	}
}

func fieldErr(key, format string, args ...any) error {
	return &storage.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks every value before distribution sees it: distribution's
// NewApp panics on some bad values, and berth never lets a panic reach the user.
func (c *Config) Validate() error {
	var errs []error
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			errs = append(errs, fieldErr("publicUrl", "%q must be http(s)://host[:port] with no path", c.PublicURL))
		}
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, fieldErr("secret", "must be at least 16 characters (or empty to generate one)"))
	}
	switch c.Cache {
	case CacheInMemory, CacheNone:
	case CacheRedis:
		if c.Redis.Addr == "" {
			errs = append(errs, fieldErr("redis.addr", "is required when cache is redis"))
		}
	default:
		errs = append(errs, fieldErr("cache", "must be inmemory, redis or none, not %q", c.Cache))
	}
	if c.CatalogMaxEntries < 1 || c.CatalogMaxEntries > 100000 {
		errs = append(errs, fieldErr("catalogMaxEntries", "must be between 1 and 100000, not %d", c.CatalogMaxEntries))
	}
	if c.ManifestCache < 0 {
		errs = append(errs, fieldErr("manifestCache", "must be 0 (off) or a number of bytes, not %d", c.ManifestCache))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fieldErr("shutdownTimeout", "must not be negative"))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fieldErr("idleTimeout", "must be a positive duration"))
	}
	if c.BodyTimeout <= 0 {
		errs = append(errs, fieldErr("bodyTimeout", "must be a positive duration"))
	}
	if c.ReadHeaderTimeout <= 0 {
		errs = append(errs, fieldErr("readHeaderTimeout", "must be a positive duration"))
	}
	if (c.TLS.Certificate == "") != (c.TLS.Key == "") {
		errs = append(errs, fieldErr("tls.key", "tls.certificate and tls.key go together"))
	}
	if c.ForeignLayerURLs != "" {
		if _, err := regexp.Compile(c.ForeignLayerURLs); err != nil {
			errs = append(errs, fieldErr("foreignLayerUrls", "is not a regular expression: %v", err))
		}
	}
	if c.Database.URL == "" {
		errs = append(errs, fieldErr("database.url", "must not be empty"))
	} else if strings.Contains(c.Database.URL, "://") && !strings.HasPrefix(c.Database.URL, "postgres://") &&
		!strings.HasPrefix(c.Database.URL, "postgresql://") && !strings.HasPrefix(c.Database.URL, "sqlite://") {
		errs = append(errs, fieldErr("database.url", "must be postgres://..., sqlite://PATH or a file path"))
	}
	if c.Database.PullFlushInterval <= 0 {
		errs = append(errs, fieldErr("database.pullFlushInterval", "must be a positive duration"))
	}
	errs = append(errs, c.GC.Validate()...)
	errs = append(errs, c.Events.Validate()...)
	if _, err := c.Proxy.ParseMirrors(); err != nil {
		errs = append(errs, err)
	}
	if c.Proxy.EvictInterval < time.Second {
		errs = append(errs, fieldErr("proxy.evictInterval", "must be a duration of at least 1s"))
	}
	if c.Proxy.EvictGrace < 0 {
		errs = append(errs, fieldErr("proxy.evictGrace", "must not be negative"))
	}
	if c.Database.Timeout < 100*time.Millisecond {
		errs = append(errs, fieldErr("database.timeout", "must be a duration of at least 100ms"))
	}
	if err := c.Storage.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
