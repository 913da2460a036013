package charts

import "sync"

// keyLock serialises work on the same key (a chart version) in this
// process, and holds nothing for keys no one is working on.
type keyLock struct {
	mu   sync.Mutex
	held map[string]*keyWaiters
}

type keyWaiters struct {
	n  int // holders and waiters
	mu sync.Mutex
}

// lock waits for key and returns the function that releases it.
func (k *keyLock) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.held == nil {
		k.held = map[string]*keyWaiters{}
	}
	w := k.held[key]
	if w == nil {
		w = &keyWaiters{}
		k.held[key] = w
	}
	w.n++
	k.mu.Unlock()
	w.mu.Lock()
	return func() {
		w.mu.Unlock()
		k.mu.Lock()
		if w.n--; w.n == 0 {
			delete(k.held, key)
		}
		k.mu.Unlock()
	}
}
