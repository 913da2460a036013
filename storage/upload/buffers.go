package upload

import (
	"sync"
	"time"
)

// The buffers uploads pass through live outside the Go heap (mmap), in a
// free list that keeps them across garbage collections: they are reused,
// not garbage, so they neither make the heap (and with it the GC's target)
// grow nor get touched anew (a first touch of fresh memory costs more than
// the copy into it on a VM that returns free pages to its host). At most
// budget buffers are handed out at once: under many concurrent uploads
// each gets fewer (never under 2), so memory stays bounded; spare buffers
// beyond keepIdle are unmapped once uploads have been quiet for a while.
const (
	budget   = 64 // buffers handed out at once, 64 MiB
	keepIdle = 8  // spare buffers kept when quiet
	trimIdle = 30 * time.Second
)

type arena struct {
	mu       sync.Mutex
	free     [][]byte
	inUse    int
	lastTake time.Time
	trimmer  sync.Once
}

var buffers arena

// take returns up to want buffers (at least 2) of bufSize bytes, aligned.
func (a *arena) take(want int) [][]byte {
	a.trimmer.Do(func() { go a.trimLoop() })
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(want, max(2, budget-a.inUse))
	out := make([][]byte, 0, n)
	for len(out) < n {
		if k := len(a.free); k > 0 {
			out = append(out, a.free[k-1])
			a.free = a.free[:k-1]
			continue
		}
		out = append(out, allocBuffer())
	}
	a.inUse += n
	a.lastTake = time.Now()
	return out
}

// give returns buffers taken before.
func (a *arena) give(bs [][]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inUse -= len(bs)
	for _, b := range bs {
		if len(a.free) < budget {
			a.free = append(a.free, b)
		} else {
			freeBuffer(b)
		}
	}
}

func (a *arena) trimLoop() {
	for range time.Tick(trimIdle) {
		a.mu.Lock()
		if time.Since(a.lastTake) >= trimIdle {
			for len(a.free) > keepIdle {
				k := len(a.free) - 1
				freeBuffer(a.free[k])
				a.free = a.free[:k]
			}
		}
		a.mu.Unlock()
	}
}
