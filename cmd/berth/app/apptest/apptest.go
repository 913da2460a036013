// Package apptest runs the whole of berth in the test's own process, on
// an httptest server on loopback: the same assembly as `berth serve`
// (app.New), the same configuration rules (config.Load with BERTH_*
// settings), without building a binary or starting a process. Dialect
// tests drive it with plain HTTP through berthtest's clients, in seconds;
// tests of real clients and of processes (faults, restarts, CLI) start
// processes with berthtest.Start instead.
package apptest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/cmd/berth/config"
)

// Start assembles berth with opts (as berthtest.Start would configure a
// process: the test admin password, autoCreateProjects unless
// StrictProjects, pull counts flushed every 200ms, opts.Env last) and
// serves it on a loopback httptest server until the test ends. Options.Args
// are command-line flags of a process and have no meaning here.
func Start(t testing.TB, opts berthtest.Options) *berthtest.Berth {
	t.Helper()
	if len(opts.Args) > 0 {
		t.Fatalf("apptest: Args %q are flags of a berth process: use Env", opts.Args)
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	env := []string{"BERTH_DATABASE_PULL_FLUSH_INTERVAL=200ms"}
	if !opts.NoAdminPassword {
		env = append(env, "BERTH_ADMIN_PASSWORD="+berthtest.AdminPassword)
	}
	if !opts.StrictProjects {
		env = append(env, "BERTH_AUTO_CREATE_PROJECTS=true")
	}
	env = append(env, opts.Env...)
	cfg, err := config.Load(config.Flags{Addr: "127.0.0.1:0", DataDir: opts.DataDir}, env)
	if err != nil {
		t.Fatalf("apptest: configuration: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var b *berthtest.Berth
	logs := &lateWriter{}
	level, _ := config.ParseLevel(cfg.Log.Level)
	a, err := app.New(ctx, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		cancel()
		t.Fatalf("apptest: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	addr := srv.Listener.Addr().String()
	if err := a.Start(ctx, addr); err != nil {
		srv.Close()
		_ = a.Close()
		cancel()
		t.Fatalf("apptest: %v", err)
	}
	b = berthtest.Running(t, addr, cfg.DataDir, adminPassword(cfg), func() error {
		srv.Close()
		err := a.Close()
		cancel()
		return err
	})
	logs.set(b.LogWriter())
	return b
}

// adminPassword is the admin's password: configured, or generated into
// the data directory on first start.
func adminPassword(cfg config.Config) string {
	if cfg.AdminPassword != "" {
		return cfg.AdminPassword
	}
	pw, _ := os.ReadFile(filepath.Join(cfg.DataDir, "admin.password"))
	return strings.TrimSpace(string(pw))
}
