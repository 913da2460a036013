package metadata

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Console sessions: stored by the hash of their token with their user,
// touched, deleted; a login sweeps expired ones; deleting the user ends
// them.
func TestSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		u := must[User](t)(db.CreateUser(ctx, User{Username: "alice", PasswordHash: "x"}))
		now := time.Now().Truncate(time.Millisecond)
		live := Session{TokenHash: "live", UserID: u.ID, CredentialVersion: 1, CSRF: "c1", CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(time.Hour)}
		old := Session{TokenHash: "old", UserID: u.ID, CredentialVersion: 1, CSRF: "c2", CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(-time.Second)}
		must0(t, db.CreateSession(ctx, old))
		must0(t, db.CreateSession(ctx, live)) // sweeps old
		if _, err := db.GetSession(ctx, "old"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session after a login: %v", err)
		}
		got := must[SessionUser](t)(db.GetSession(ctx, "live"))
		if got.User.Username != "alice" || got.CSRF != "c1" || !got.ExpiresAt.Equal(live.ExpiresAt) || got.CredentialVersion != 1 {
			t.Errorf("session: %+v", got)
		}
		later := now.Add(time.Minute)
		must0(t, db.TouchSession(ctx, "live", later, later.Add(time.Hour)))
		if got := must[SessionUser](t)(db.GetSession(ctx, "live")); !got.SeenAt.Equal(later) || !got.ExpiresAt.Equal(later.Add(time.Hour)) {
			t.Errorf("touched: %+v", got)
		}
		must0(t, db.DeleteSession(ctx, "live"))
		must0(t, db.DeleteSession(ctx, "live")) // twice is fine
		if _, err := db.GetSession(ctx, "live"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
		must0(t, db.CreateSession(ctx, live))
		must0(t, db.DeleteUser(ctx, "alice"))
		if _, err := db.GetSession(ctx, "live"); !errors.Is(err, ErrNotFound) {
			t.Errorf("session of a deleted user: %v", err)
		}
	})
}

// TagsByName pages by key in both directions, with a filter.
func TestTagsByName(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := bulkSeed(t, db, "keys", []seedRepo{{name: "keys/app", artifacts: 5, tags: 25}})
		repo := s.repoIDs["keys/app"]
		names := func(ts []Tag, err error) []string {
			t.Helper()
			must0(t, err)
			out := []string{}
			for _, tg := range ts {
				if tg.Digest == "" {
					t.Errorf("tag %s without its digest", tg.Name)
				}
				out = append(out, tg.Name)
			}
			return out
		}
		cases := []struct {
			name                  string
			filter, after, before string
			n                     int
			want                  []string
		}{
			{"first", "", "", "", 3, []string{"t000000", "t000001", "t000002"}},
			{"after", "", "t000002", "", 2, []string{"t000003", "t000004"}},
			{"before", "", "", "t000003", 2, []string{"t000001", "t000002"}},
			{"before the start", "", "", "t000001", 5, []string{"t000000"}},
			{"past the end", "", "t000024", "", 5, []string{}},
			{"filtered", "2", "t000012", "", 3, []string{"t000020", "t000021", "t000022"}},
		}
		for _, c := range cases {
			if got := names(db.TagsByName(ctx, repo, c.filter, c.after, c.before, c.n)); !equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
	})
}
