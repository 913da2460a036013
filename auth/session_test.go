package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// Console sessions end when they expire, at logout, and when the user's
// password changes; robots and token-proven callers get none.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	db := metadatatest.Open(t, "")
	s, err := New(ctx, Defaults(), db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const pw = "Session-pass-1"
	if _, err := s.AddUser(ctx, "sam", pw, false); err != nil {
		t.Fatal(err)
	}
	p, err := s.Login(ctx, "sam", pw, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	start := func() Session {
		t.Helper()
		ses, err := s.StartSession(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return ses
	}
	gone := func(what string, ses Session) {
		t.Helper()
		if _, err := s.LookupSession(ctx, ses.Token); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v", what, err)
		}
	}
	ses := start()
	got, err := s.LookupSession(ctx, ses.Token)
	if err != nil || got.Principal.Name != "sam" || got.Principal.UserID != p.UserID || got.CSRF != ses.CSRF || got.Principal.ViaToken {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	gone("a token never issued", Session{Token: "nope"})
	gone("no token", Session{})

	if err := s.EndSession(ctx, ses.Token); err != nil {
		t.Fatal(err)
	}
	gone("after logout", ses)

	ses = start()
	past := time.Now().Add(-time.Minute)
	if err := db.TouchSession(ctx, tokenHash(ses.Token), past.Add(-sessionIdle), past); err != nil {
		t.Fatal(err)
	}
	gone("idle too long", ses)

	ses = start()
	if err := s.SetPassword(ctx, "sam", "Session-pass-2"); err != nil {
		t.Fatal(err)
	}
	gone("after a password change", ses)

	for _, who := range []Principal{{Kind: KindApp, Name: "berth-ak-x", AppID: 1}, {Kind: KindUser, Name: "sam", UserID: p.UserID, ViaToken: true}, Anonymous} {
		if _, err := s.StartSession(ctx, who); !errors.Is(err, ErrDenied) {
			t.Errorf("a session for %+v: %v", who, err)
		}
	}
}
