package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

func parseFlags(name string, args []string, stderr io.Writer) (config.Flags, error) {
	var f config.Flags
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.ConfigFile, "config", "", "YAML configuration file (or $BERTH_CONFIG)")
	fs.StringVar(&f.Addr, "addr", "", "listen address HOST:PORT (or $BERTH_ADDR; default 127.0.0.1:5000)")
	fs.StringVar(&f.DataDir, "data-dir", "", "data directory for the embedded defaults (or $BERTH_DATA_DIR; default ./berth-data)")
	fs.StringVar(&f.LogLevel, "log-level", "", "debug, info, warn or error (or $BERTH_LOG_LEVEL)")
	fs.StringVar(&f.DatabaseURL, "database-url", "", "metadata database: postgres://... or a SQLite file (or $BERTH_DATABASE_URL; default DIR/berth.db)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(cfg.Level)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args, environ []string, stderr io.Writer) error {
	flags, err := parseFlags("serve", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(flags, environ)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	log := newLogger(cfg.Log, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("dataDir: %w", err)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	warnReadable(log, cfg.DataDir, cfg.Database.URL)
	db, err := metadata.Open(ctx, cfg.Database.URL, cfg.Database.Timeout)
	if err != nil {
		return &storage.FieldError{Key: "database.url", Msg: err.Error()}
	}
	cfg.Auth.AutoCreateProjects = cfg.AutoCreateProjects
	authSvc, err := auth.New(ctx, cfg.Auth, db, log)
	if err != nil {
		db.Close()
		return err
	}
	if err := authSvc.Bootstrap(ctx, cfg.AdminPassword, cfg.DataDir); err != nil {
		db.Close()
		return err
	}
	srv, err := registry.New(ctx, cfg.Config, log, registry.Options{DB: db, Access: authSvc})
	if err != nil {
		db.Close()
		return err
	}
	builds, err := mountAPIs(srv, authSvc, db, cfg, log)
	if err != nil {
		_ = srv.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("addr: %w", err)
	}
	publicHost := ""
	if u, err := url.Parse(cfg.PublicURL); err == nil && cfg.PublicURL != "" {
		publicHost = u.Host
	}
	if err := builds.Start(ctx, ln.Addr().String(), publicHost); err != nil {
		_ = ln.Close()
		_ = srv.Close()
		return fmt.Errorf("imagebuild: %w", err)
	}
	// On SIGTERM, builds in flight finish (or are marked failed) while the
	// server still answers their pushes; then the server drains.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	go func() {
		select {
		case <-ctx.Done():
		case <-serveCtx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		builds.Shutdown(sctx)
		cancel()
		stopServing()
	}()
	attrs := []any{"version", versionString(), "addr", ln.Addr().String(), "dataDir", cfg.DataDir, "storage", cfg.Storage.Driver}
	switch cfg.Storage.Driver {
	case "s3":
		attrs = append(attrs, "bucket", cfg.Storage.S3.Bucket, "endpoint", cfg.Storage.S3.Endpoint)
	default:
		attrs = append(attrs, "root", cfg.Storage.Filesystem.RootDirectory)
	}
	log.Info("berth listening", attrs...)
	return srv.Serve(serveCtx, ln)
}

func printConfig(args, environ []string, stdout io.Writer) error {
	flags, err := parseFlags("config", args, stdout)
	if err != nil {
		return err
	}
	cfg, err := config.Load(flags, environ)
	for _, line := range config.Reference(&cfg) {
		fmt.Fprintln(stdout, line)
	}
	return err
}

// warnReadable makes the SQLite database private to berth's user (it holds
// the signing key unless auth.signingKey is set, and password hashes) and
// warns when the data directory is open to other users.
func warnReadable(log *slog.Logger, dataDir, dsn string) {
	if fi, err := os.Stat(dataDir); err == nil && fi.Mode().Perm()&0o007 != 0 {
		log.Warn("the data directory is readable by other users; it holds the metadata database and the generated admin password: chmod o-rwx it",
			"dataDir", dataDir, "mode", fi.Mode().Perm().String())
	}
	tightened, err := metadata.SecureFiles(dsn)
	for _, p := range tightened {
		log.Warn("the metadata database was readable by other users (it holds secrets): made it readable by berth's user only", "file", p)
	}
	if err != nil {
		log.Warn("cannot make the metadata database private", "err", err)
	}
}
