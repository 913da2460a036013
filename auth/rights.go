package auth

import (
	"context"
	"sync"
	"time"
)

// rightsTTL bounds how long a token's rights on a repository, once read
// again from the database, are trusted: a member removed, a project made
// private or a robot's scope dropped stops an unexpired token within this
// long, on every replica. It is the token's counterpart of the core's
// grant memo (also 1 s), and spares the requests of one push or pull (a
// client reuses its token for every blob) a membership lookup each.
const rightsTTL = time.Second

// maxRights bounds the memo; when full it starts over.
const maxRights = 8192

type rightsKey struct {
	kind          string
	userID, appID int64
	repo, action  string
}

type rightsMemo struct {
	mu sync.Mutex
	m  map[rightsKey]heldRight
}

type heldRight struct {
	ok    bool
	until time.Time
}

// stillAllowed reports whether p may still do action on repo (what a
// token it was issued once granted is used only while this holds).
func (s *Service) stillAllowed(ctx context.Context, p Principal, repo, action string) (bool, error) {
	k := rightsKey{kind: p.Kind, userID: p.UserID, appID: p.AppID, repo: repo, action: action}
	now := time.Now()
	s.rights.mu.Lock()
	h, hit := s.rights.m[k]
	s.rights.mu.Unlock()
	if hit && now.Before(h.until) {
		return h.ok, nil
	}
	acts, err := s.repoActions(ctx, p, repo, []string{action})
	if err != nil {
		return false, err
	}
	ok := len(acts) == 1
	s.rights.mu.Lock()
	if s.rights.m == nil || len(s.rights.m) >= maxRights {
		s.rights.m = make(map[rightsKey]heldRight)
	}
	s.rights.m[k] = heldRight{ok: ok, until: now.Add(rightsTTL)}
	s.rights.mu.Unlock()
	return ok, nil
}
