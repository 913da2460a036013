package berthtest

import "testing"

// Database names a metadata database a test runs against.
type Database struct {
	Name string
	// Env returns the settings for a fresh, isolated database.
	Env func(t testing.TB) []string
}

// Databases returns SQLite (the embedded default) and PostgreSQL, so index
// tests run on both.
func Databases() []Database {
	return []Database{
		{Name: "sqlite", Env: func(testing.TB) []string { return nil }},
		{Name: "postgres", Env: func(t testing.TB) []string {
			return []string{"BERTH_DATABASE_URL=" + SharedPostgres(t).NewDatabase(t)}
		}},
	}
}
