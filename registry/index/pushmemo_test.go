package index

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// CheckUpload trusts a project it found for pushMemoTTL; CheckPush (used
// for manifests) always reads it.
func TestCheckUploadMemo(t *testing.T) {
	ctx := context.Background()
	db := metadatatest.Open(t, "")
	ix := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	if err := ix.CheckUpload(ctx, "team/app"); !errors.Is(err, ErrNoProject) {
		t.Fatalf("upload into a missing project = %v, want ErrNoProject", err)
	}
	p, err := db.CreateProject(ctx, metadata.Project{Name: "team", Creator: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.CheckUpload(ctx, "team/app"); err != nil {
		t.Fatalf("upload into an existing project = %v", err)
	}
	if err := db.DeleteProject(ctx, p.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := ix.CheckPush(ctx, "team/app"); !errors.Is(err, ErrNoProject) {
		t.Errorf("CheckPush after the delete = %v, want ErrNoProject at once", err)
	}
	if err := ix.CheckUpload(ctx, "team/app"); err != nil {
		t.Errorf("CheckUpload within the memo's second = %v, want it still trusted", err)
	}
	if err := ix.CheckUpload(ctx, "other/app"); !errors.Is(err, ErrNoProject) {
		t.Errorf("CheckUpload of another project = %v, want ErrNoProject", err)
	}
	if err := ix.CheckUpload(ctx, "team"); !errors.Is(err, ErrNoProject) {
		t.Errorf("CheckUpload of a name without a project part = %v, want ErrNoProject", err)
	}
}

func TestPushMemo(t *testing.T) {
	var m pushMemo
	now := time.Now()
	m.add("team", now)
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  bool
	}{{"team", 0, true}, {"team", pushMemoTTL - time.Nanosecond, true}, {"team", pushMemoTTL, false}, {"other", 0, false}} {
		if got := m.has(tc.name, now.Add(tc.after)); got != tc.want {
			t.Errorf("has(%q, +%v) = %v, want %v", tc.name, tc.after, got, tc.want)
		}
	}
	for i := range maxPushMemo + 5 {
		m.add(string(rune('a'+i%26))+time.Duration(i).String(), now)
		if len(m.m) > maxPushMemo {
			t.Fatalf("memo holds %d projects, bound %d", len(m.m), maxPushMemo)
		}
	}
}
