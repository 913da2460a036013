package index

import (
	"sync"
	"time"
)

// pushMemoTTL is how long CheckPush trusts that a project it found still
// exists. The requests of one blob upload (POST, PATCHes, PUT) then look it
// up once. A push racing the deletion of its project was always possible;
// this widens the window by at most pushMemoTTL, and only for blob uploads:
// a manifest PUT reads the project again to record the artifact.
const pushMemoTTL = time.Second

// maxPushMemo bounds pushMemo; when full it starts over.
const maxPushMemo = 4096

// pushMemo holds the projects CheckPush found recently.
type pushMemo struct {
	mu sync.RWMutex
	m  map[string]time.Time // project name -> until
}

func (p *pushMemo) has(name string, now time.Time) bool {
	p.mu.RLock()
	until, ok := p.m[name]
	p.mu.RUnlock()
	return ok && now.Before(until)
}

func (p *pushMemo) add(name string, now time.Time) {
	p.mu.Lock()
	if p.m == nil || len(p.m) >= maxPushMemo {
		p.m = make(map[string]time.Time)
	}
	p.m[name] = now.Add(pushMemoTTL)
	p.mu.Unlock()
}
