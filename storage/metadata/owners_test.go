package metadata

import (
	"context"
	"testing"
	"time"
)

// Migration 015 binds existing projects to the user of their creator's
// name only when that user existed when the project was created: a user
// deleted and created again since, or a name no user has, owns nothing.
func TestMigrationBindsOwnersToUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		old := must[User](t)(db.CreateUser(ctx, User{Username: "olduser", PasswordHash: "x"}))
		same := must[User](t)(db.CreateUser(ctx, User{Username: "again", PasswordHash: "x"}))
		kept := must[Project](t)(db.CreateProject(ctx, Project{Name: "kept", Creator: "olduser"}))
		lost := must[Project](t)(db.CreateProject(ctx, Project{Name: "lost", Creator: "again"}))
		ghost := must[Project](t)(db.CreateProject(ctx, Project{Name: "ghost", Creator: "nobody"}))
		if kept.CreatorID != old.ID || lost.CreatorID != same.ID || ghost.CreatorID != 0 {
			t.Fatalf("created: %d %d %d", kept.CreatorID, lost.CreatorID, ghost.CreatorID)
		}
		// "again" is deleted and created anew after its project; then
		// the schema goes back to 014 and migrates again.
		if err := db.DeleteUser(ctx, "again"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		must[User](t)(db.CreateUser(ctx, User{Username: "again", PasswordHash: "x"}))
		for _, stmt := range []string{`DROP INDEX projects_creator_id`, `ALTER TABLE projects DROP COLUMN creator_id`, `DROP TABLE login_failures`, `DELETE FROM schema_migrations WHERE version = 15`} {
			if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if err := db.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]int64{"kept": old.ID, "lost": 0, "ghost": 0} {
			p, err := db.GetProject(ctx, name)
			if err != nil || p.CreatorID != want {
				t.Errorf("%s after the migration: creator id %d (%v), want %d", name, p.CreatorID, err, want)
			}
		}
		if p, _ := db.GetProject(ctx, "lost"); p.Creator != "again" {
			t.Errorf("the creator's name is kept: %q", p.Creator)
		}
		// NoCreator binds nothing, whatever the name.
		if p := must[Project](t)(db.EnsureProject(ctx, "reindexed", "olduser", NoCreator)); p.CreatorID != 0 {
			t.Errorf("EnsureProject with NoCreator bound %d", p.CreatorID)
		}
	})
}
