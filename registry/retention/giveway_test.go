package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage/metadata"
)

// TestRunGivesWayToRequests: a run's write transactions wait while a
// request that changes something is in flight (here for as long as it is:
// the test lifts the cap on the wait), and the request that asked for the
// run over the API is not one of those it waits for.
func TestRunGivesWayToRequests(t *testing.T) {
	ctx := context.Background()
	p := bigProject{name: "giveway", repos: 2, tagsPer: 20}
	const keep = 2
	for _, be := range indexBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			db, ix, project := seededPolicy(t, be, p, keep)
			var activity observe.Activity
			rn := retention.NewRunner(ix, quiet)
			rn.GiveWayTo(&activity)
			retention.SetGiveWayMost(rn, time.Hour)
			tagsLeft := func() int64 {
				repos, _, err := db.ListRepositories(ctx, metadata.RepoFilter{ProjectID: project.ID}, metadata.ListOptions{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var n int64
				for _, r := range repos {
					n += r.TagCount
				}
				return n
			}

			_, pushEnd := activity.Begin(ctx)     // a push in flight
			apiCtx, apiEnd := activity.Begin(ctx) // the request asking for the run
			defer apiEnd()
			type result struct {
				run metadata.RetentionRun
				err error
			}
			done := make(chan result, 1)
			go func() {
				run, err := rn.Run(apiCtx, p.name, retention.Options{Cause: "api"})
				done <- result{run, err}
			}()
			select {
			case r := <-done:
				pushEnd()
				t.Fatalf("the run ended while a push was in flight: %+v, %v", r.run, r.err)
			case <-time.After(300 * time.Millisecond):
			}
			if n := tagsLeft(); n != int64(p.repos*p.tagsPer) {
				t.Errorf("%d tags left while a push was in flight, want all %d: the run wrote", n, p.repos*p.tagsPer)
			}
			pushEnd()
			var r result
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatal("the run did not end once the push did: it waits for the request that asked for it")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			want := int64(p.repos * (p.tagsPer - keep))
			if r.run.TagsRemoved != want || tagsLeft() != int64(p.repos*keep) {
				t.Errorf("removed %d tags, %d left; want %d removed, %d left", r.run.TagsRemoved, tagsLeft(), want, p.repos*keep)
			}
		})
	}
}
