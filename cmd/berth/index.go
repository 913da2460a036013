package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/registry"
)

// errDrift makes `berth check` exit non-zero without an extra error line.
var errDrift = errors.New("the index and storage differ")

func openOffline(ctx context.Context, name string, args, environ []string, stderr io.Writer) (*registry.Offline, error) {
	flags, err := parseFlags(name, args, stderr)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(flags, environ)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return registry.OpenOffline(ctx, cfg.Config, newLogger(cfg.Log, stderr))
}

// reindex rebuilds the metadata index from storage.
func reindex(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	o, err := openOffline(ctx, "reindex", args, environ, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	st, err := o.Reindex(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reindexed %d repositories, %d artifacts, %d tags; removed %d stale entries; %d unreadable manifests skipped\n",
		st.Repositories, st.Artifacts, st.Tags, st.Removed, st.Broken)
	return nil
}

// check reports drift between the index and storage, exiting 1 on any.
func check(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	o, err := openOffline(ctx, "check", args, environ, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	drift, err := o.Check(ctx)
	if err != nil {
		return err
	}
	for _, d := range drift {
		fmt.Fprintln(stdout, d)
	}
	if len(drift) > 0 {
		fmt.Fprintf(stdout, "%d differences between the index and storage (berth reindex repairs the index)\n", len(drift))
		return errDrift
	}
	fmt.Fprintln(stdout, "the index matches storage")
	return nil
}
