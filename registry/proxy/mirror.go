package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// Mirror mode. Docker's registry-mirrors and containerd's hosts.toml
// mirrors ask berth for /v2/<name>/... as the upstream names it, without a
// project; containerd adds ?ns=<upstream host>. proxy.mirrors names the
// proxy project of each upstream host. A request without ns is for
// docker.io (Docker only mirrors Docker Hub) when it is a GET or HEAD of a
// repository berth does not have, outside proxy projects: berth's own
// repositories (library/... included, berth's default project) are served
// as they are, and pushes are never rewritten.

// DockerHub is the host a request without ?ns= mirrors.
const DockerHub = "docker.io"

// projectsTTL is how long this replica remembers whether a repository
// exists, for requests without ?ns=.
const projectsTTL = 5 * time.Second

type projectMemo struct {
	mu sync.Mutex
	m  map[string]projectSeen
}

type projectSeen struct {
	exists bool
	at     time.Time
}

// Mirroring reports whether mirror mode is configured.
func (s *Service) Mirroring() bool { return len(s.mirror) > 0 }

// MirrorProject is the proxy project a mirror request for name (with the
// ns parameter ns, "" when absent) is served from; ok false leaves the
// request as it is.
func (s *Service) MirrorProject(ctx context.Context, method, ns, name string) (string, bool) {
	if len(s.mirror) == 0 {
		return "", false
	}
	host := strings.ToLower(ns)
	if host == "" {
		host = DockerHub
	}
	project, ok := s.mirror[host]
	if !ok {
		return "", false
	}
	if ns == "" && (method != http.MethodGet && method != http.MethodHead || s.lookup(ctx, name) != nil || s.isRepository(ctx, name)) {
		return "", false // a request for berth's own repositories
	}
	if s.lookup(ctx, project+"/x") == nil {
		return "", false // not (or no longer) a proxy project
	}
	return project, true
}

// isRepository reports whether berth has the repository name; one it has
// is remembered for projectsTTL (a deleted one may be seen for that long).
func (s *Service) isRepository(ctx context.Context, name string) bool {
	now := time.Now()
	s.projects.mu.Lock()
	seen, ok := s.projects.m[name]
	s.projects.mu.Unlock()
	if ok && now.Sub(seen.at) < projectsTTL {
		return seen.exists
	}
	_, err := s.db.GetRepository(ctx, name)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return true // unknown: leave the request as it is
	}
	if err != nil {
		return false // not remembered: a push may create it any moment
	}
	s.projects.mu.Lock()
	if s.projects.m == nil || len(s.projects.m) > 1<<14 {
		s.projects.m = map[string]projectSeen{}
	}
	s.projects.m[name] = projectSeen{exists: true, at: now}
	s.projects.mu.Unlock()
	return true
}
