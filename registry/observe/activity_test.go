package observe

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGiveWay(t *testing.T) {
	const long = time.Hour
	for _, tc := range []struct {
		name string
		// before sets the activity up; it returns what to do once GiveWay
		// is known to be waiting (nil: GiveWay must not wait at all).
		before       func(a *Activity) (release func())
		settle, most time.Duration
		cancel       bool
		wantErr      error
		wantAtLeast  time.Duration
	}{
		{name: "nothing in flight", before: func(*Activity) func() { return nil }, settle: 0, most: long},
		{name: "a nil activity", settle: long, most: long},
		{name: "waits for the request in flight", before: func(a *Activity) func() {
			_, end := a.Begin(context.Background())
			return end
		}, settle: 0, most: long},
		{name: "waits settle after the last one ended", before: func(a *Activity) func() {
			_, end := a.Begin(context.Background())
			end()
			return nil
		}, settle: 30 * time.Millisecond, most: long, wantAtLeast: 20 * time.Millisecond},
		{name: "never longer than most", before: func(a *Activity) func() {
			_, end := a.Begin(context.Background())
			t.Cleanup(end)
			return nil
		}, settle: 0, most: 40 * time.Millisecond, wantAtLeast: 40 * time.Millisecond},
		{name: "a cancelled wait says so", before: func(a *Activity) func() {
			_, end := a.Begin(context.Background())
			t.Cleanup(end)
			return nil
		}, settle: 0, most: long, cancel: true, wantErr: context.Canceled},
		{name: "a request turned background work counts no more", before: func(a *Activity) func() {
			ctx, end := a.Begin(context.Background())
			Background(ctx)
			t.Cleanup(end) // ending it again changes nothing
			return nil
		}, settle: 0, most: long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a *Activity
			var release func()
			if tc.before != nil {
				a = &Activity{}
				release = tc.before(a)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				waited time.Duration
				err    error
			}
			got := make(chan result, 1)
			go func() {
				w, err := a.GiveWay(ctx, tc.settle, tc.most)
				got <- result{w, err}
			}()
			if release != nil || tc.cancel {
				// A request is in flight: GiveWay must still be waiting.
				select {
				case r := <-got:
					t.Fatalf("returned %+v while a request was in flight", r)
				case <-time.After(50 * time.Millisecond):
				}
				if release != nil {
					release()
				}
				if tc.cancel {
					cancel()
				}
			}
			r := <-got
			if !errors.Is(r.err, tc.wantErr) {
				t.Fatalf("err %v, want %v", r.err, tc.wantErr)
			}
			if r.waited < tc.wantAtLeast {
				t.Errorf("waited %s, want at least %s", r.waited, tc.wantAtLeast)
			}
			if a != nil && a.InFlight() < 0 {
				t.Errorf("in flight %d", a.InFlight())
			}
		})
	}
}

func TestBackgroundEndsTheRequestsCountOnce(t *testing.T) {
	var a Activity
	ctx, end := a.Begin(context.Background())
	_, other := a.Begin(context.Background())
	defer other()
	Background(ctx)
	Background(ctx)
	end()
	if n := a.InFlight(); n != 1 {
		t.Fatalf("in flight %d, want 1 (the other request)", n)
	}
	Background(context.Background()) // outside a counted request: nothing
	if n := a.InFlight(); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
}
