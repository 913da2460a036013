package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/cmd/berth/app"
	"github.com/berth-registry/berth/cmd/berth/config"
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

// serve runs berth until SIGTERM or SIGINT, then drains.
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
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := a.Listen(ctx)
	if err != nil {
		_ = a.Close()
		return err
	}
	attrs := []any{"version", versionString(), "addr", ln.Addr().String(), "dataDir", cfg.DataDir, "storage", cfg.Storage.Driver}
	switch cfg.Storage.Driver {
	case "s3":
		attrs = append(attrs, "bucket", cfg.Storage.S3.Bucket, "endpoint", cfg.Storage.S3.Endpoint)
	default:
		attrs = append(attrs, "root", cfg.Storage.Filesystem.RootDirectory)
	}
	log.Info("berth listening", attrs...)
	return a.Serve(ctx, ln)
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
