// Package proxy is berth's pull-through cache: a project bound to an
// upstream registry (a proxy project) answers pulls of what it does not
// hold by fetching it from the upstream, streaming it to the client while
// storing it through the index (so it is indexed like a push: tag lists,
// quotas, retention and garbage collection see it), and serves it locally
// afterwards. Tags are checked against the upstream once per ttl; when the
// upstream cannot answer, what is cached is served (stale-on-error).
// Simultaneous cold pulls of one blob or manifest fetch it once (flight.go),
// across replicas too (a lease in the database).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
)

// DefaultTTL is how long a proxied tag is served before it is checked
// against the upstream again, when a binding names no ttl.
const DefaultTTL = 5 * time.Minute

// refreshEvery is how often a replica reloads the bindings (changes made
// through another replica are seen within it; this replica's at once).
const refreshEvery = 2 * time.Second

// Binding is a project's upstream as the management API shows it: the
// secret never leaves the core, only whether one is set.
type Binding struct {
	Project   string        `json:"project"`
	URL       string        `json:"url"`
	Username  string        `json:"username,omitempty"`
	HasSecret bool          `json:"hasSecret"`
	Namespace string        `json:"namespace,omitempty"`
	TTL       time.Duration `json:"-"`
	// CapBytes caps the project's usage (0: no cap); UsedBytes is its
	// usage (storage_used, as quotas count it).
	CapBytes  int64     `json:"capBytes"`
	UsedBytes int64     `json:"usedBytes"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Spec changes a binding: nil fields stay as they are (Secret nil keeps the
// secret, "" clears it).
type Spec struct {
	URL       *string
	Username  *string
	Secret    *string
	Namespace *string
	TTL       *time.Duration
	CapBytes  *int64
}

// Service is the pull-through cache of one berth.
type Service struct {
	db     *metadata.DB
	ix     *index.Indexer
	log    *slog.Logger
	client *http.Client
	owner  string // this replica, in leases
	mirror map[string]string
	flights
	secret   string       // the HTTP secret every replica shares: signs relays
	peers    *http.Client // relays from other replicas (peer.go)
	peerMu   sync.Mutex
	peerURL  string          // this replica's address for the others
	projects projectMemo     // mirror.go
	base     context.Context // ends with Close
	stop     context.CancelFunc
	wg       sync.WaitGroup // downloads and checks in flight
	tmpOnce  sync.Once
	tmpDir   string
	tmpErr   error
	checks   struct { // repo:tag → when this replica last saw it checked
		sync.Mutex
		m map[string]time.Time
	}

	mu       sync.Mutex
	bindings map[string]*binding // project name → binding
	loadedAt time.Time
	ev       evictor // evict.go
}

// binding is a loaded binding with its upstream client.
type binding struct {
	metadata.ProxyUpstream
	up *upstream
}

// New returns the pull-through cache over the index; mirrors maps upstream
// hosts (docker.io) to the proxy project that mirrors them (mirror mode);
// secret (shared by the replicas) signs relays between them (see SetPeer).
func New(ix *index.Indexer, log *slog.Logger, owner, secret string, mirrors map[string]string) *Service {
	peers := transport()
	peers.Proxy = nil // replicas reach each other directly
	s := &Service{db: ix.DB(), ix: ix, log: log, owner: owner, mirror: mirrors, secret: secret,
		client:  &http.Client{Transport: transport()},
		peers:   &http.Client{Transport: peers},
		flights: flights{m: map[string]*flight{}}}
	s.base, s.stop = context.WithCancel(context.Background())
	return s
}

// transport is the default transport's settings (proxy environment,
// timeouts), with a bound on how long an upstream may take to answer.
func transport() *http.Transport {
	t := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}
	if d, ok := http.DefaultTransport.(*http.Transport); ok {
		t = d.Clone()
		t.MaxIdleConnsPerHost = 16
	}
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}

// lookup returns the binding of the project of repo (nil: not a proxy
// project), from memory refreshed every refreshEvery.
func (s *Service) lookup(ctx context.Context, repo string) *binding {
	name := index.ProjectName(repo)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bindings == nil || time.Since(s.loadedAt) > refreshEvery {
		s.reloadLocked(ctx)
	}
	return s.bindings[name]
}

func (s *Service) reloadLocked(ctx context.Context) {
	list, err := s.db.ProxyUpstreams(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "proxy: loading upstream bindings", "err", err)
		if s.bindings == nil {
			s.bindings = map[string]*binding{}
		}
		s.loadedAt = time.Now() // retried after refreshEvery, not per request
		return
	}
	next := make(map[string]*binding, len(list))
	for _, u := range list {
		if old := s.bindings[u.Project]; old != nil && old.sameAs(u) {
			next[u.Project] = old // keeps its tokens
			continue
		}
		next[u.Project] = &binding{ProxyUpstream: u, up: newUpstream(u.URL, u.Username, u.Secret, s.client)}
	}
	s.bindings, s.loadedAt = next, time.Now()
}

// sameAs reports whether b is bound as u says (the project's usage aside).
func (b *binding) sameAs(u metadata.ProxyUpstream) bool {
	v := b.ProxyUpstream
	v.Used = u.Used
	return v == u
}

// invalidate makes the next lookup reload.
func (s *Service) invalidate() {
	s.mu.Lock()
	s.bindings = nil
	s.mu.Unlock()
}

// IsProxy reports whether repo lies in a proxy project.
func (s *Service) IsProxy(ctx context.Context, repo string) bool { return s.lookup(ctx, repo) != nil }

// RefusePush refuses a push into a proxy project (index.SetPushGuard).
func (s *Service) RefusePush(ctx context.Context, repo string) error {
	if b := s.lookup(ctx, repo); b != nil {
		return fmt.Errorf("%w: project %q is a proxy of %s: its content comes from there, pushes are refused", index.ErrPushRefused, b.Project, b.URL)
	}
	return nil
}

// upstreamName is the name repo has upstream: the binding's namespace and
// what follows the project.
func (b *binding) upstreamName(repo string) string {
	_, rest, _ := strings.Cut(repo, "/")
	return b.Namespace + rest
}

func (b *binding) ttl() time.Duration {
	if b.TTL > 0 {
		return b.TTL
	}
	return DefaultTTL
}

func toBinding(u metadata.ProxyUpstream) Binding {
	return Binding{Project: u.Project, URL: u.URL, Username: u.Username, HasSecret: u.Secret != "", Namespace: u.Namespace,
		TTL: u.TTL, CapBytes: u.CapBytes, UsedBytes: u.Used, UpdatedBy: u.UpdatedBy, UpdatedAt: u.UpdatedAt}
}

// List returns every binding.
func (s *Service) List(ctx context.Context) ([]Binding, error) {
	list, err := s.db.ProxyUpstreams(ctx)
	if err != nil {
		return nil, domain.Classify(err)
	}
	out := make([]Binding, 0, len(list))
	for _, u := range list {
		out = append(out, toBinding(u))
	}
	return out, nil
}

// Get returns the binding of project.
func (s *Service) Get(ctx context.Context, project string) (Binding, error) {
	u, err := s.db.ProxyUpstream(ctx, project)
	if err != nil {
		return Binding{}, domain.Classify(domain.Translate(err, "proxy of project "+project))
	}
	return toBinding(u), nil
}

// Put creates (create) or changes the binding of project (by id), made by
// user. A new binding needs a URL.
func (s *Service) Put(ctx context.Context, projectID int64, project string, spec Spec, create bool, user string) (Binding, error) {
	u, err := s.db.ProxyUpstream(ctx, project)
	switch {
	case err == nil && create:
		return Binding{}, domain.Errorf(domain.ErrAlreadyExists, "project %q is already a proxy of %s", project, u.URL)
	case errors.Is(err, metadata.ErrNotFound) && !create:
		return Binding{}, domain.Errorf(domain.ErrNotFound, "project %q is not a proxy project", project)
	case err != nil && !errors.Is(err, metadata.ErrNotFound):
		return Binding{}, domain.Classify(err)
	}
	u.ProjectID, u.Project, u.UpdatedBy = projectID, project, user
	applySpec(&u, spec)
	if err := validate(&u); err != nil {
		return Binding{}, err
	}
	if err := s.db.PutProxyUpstream(ctx, u); err != nil {
		return Binding{}, domain.Classify(domain.Translate(err, "project "+project))
	}
	s.invalidate()
	if u.CapBytes > 0 {
		s.queueEviction(project, "") // a lowered cap takes effect now
	}
	return s.Get(ctx, project)
}

var namespaceRE = regexp.MustCompile(`^` + reference.NameRegexp.String() + `$`)

// CheckNew validates a new binding before anything is created for it.
func CheckNew(spec Spec) error {
	var u metadata.ProxyUpstream
	applySpec(&u, spec)
	return validate(&u)
}

func applySpec(u *metadata.ProxyUpstream, spec Spec) {
	if spec.URL != nil {
		u.URL = *spec.URL
	}
	if spec.Username != nil {
		u.Username = *spec.Username
	}
	if spec.Secret != nil {
		u.Secret = *spec.Secret
	}
	if spec.Namespace != nil {
		u.Namespace = *spec.Namespace
	}
	if spec.TTL != nil {
		u.TTL = *spec.TTL
	}
	if spec.CapBytes != nil {
		u.CapBytes = *spec.CapBytes
	}
}

// validate checks a binding and normalises its URL and namespace.
func validate(u *metadata.ProxyUpstream) error {
	pu, err := url.Parse(u.URL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || strings.Trim(pu.Path, "/") != "" || pu.RawQuery != "" || pu.User != nil {
		return domain.Errorf(domain.ErrInvalid, "url %q must be http(s)://host[:port] with no path, query or credentials", u.URL)
	}
	u.URL = pu.Scheme + "://" + pu.Host
	if u.Namespace != "" {
		ns := strings.Trim(u.Namespace, "/")
		if !namespaceRE.MatchString(ns) {
			return domain.Errorf(domain.ErrInvalid, "namespace %q must be a repository path such as library/", u.Namespace)
		}
		u.Namespace = ns + "/"
	}
	if u.TTL < 0 || u.TTL > 365*24*time.Hour {
		return domain.Errorf(domain.ErrInvalid, "ttl must be between 0 (the default, %s) and a year", DefaultTTL)
	}
	if u.CapBytes < 0 || u.CapBytes > MaxCap {
		return domain.Errorf(domain.ErrInvalid, "capBytes must be between 0 (no cap) and %d (1 PiB)", int64(MaxCap))
	}
	if u.Username == "" && u.Secret != "" {
		return domain.Errorf(domain.ErrInvalid, "a secret needs a username")
	}
	return nil
}

// Delete unbinds project: it becomes an ordinary project with what it
// cached.
func (s *Service) Delete(ctx context.Context, projectID int64, project string) error {
	if err := s.db.DeleteProxyUpstream(ctx, projectID); err != nil {
		return domain.Classify(domain.Translate(err, "proxy of project "+project))
	}
	s.invalidate()
	return nil
}

// Test checks that project's upstream answers with its credentials.
func (s *Service) Test(ctx context.Context, project string) error {
	u, err := s.db.ProxyUpstream(ctx, project)
	if err != nil {
		return domain.Classify(domain.Translate(err, "proxy of project "+project))
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return newUpstream(u.URL, u.Username, u.Secret, s.client).ping(ctx)
}
