package charts

import (
	"sync"
	"testing"
)

func TestKeyLock(t *testing.T) {
	var k keyLock
	var wg sync.WaitGroup
	inside := map[string]int{}
	var mu sync.Mutex
	for i := range 64 {
		key := []string{"a@1.0.0", "a@1.0.1", "b@1.0.0"}[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := k.lock(key)
			mu.Lock()
			inside[key]++
			if n := inside[key]; n != 1 {
				t.Errorf("%d holders of %s at once", n, key)
			}
			mu.Unlock()
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if len(k.held) != 0 {
		t.Errorf("keys still held after every unlock: %v", k.held)
	}
}
