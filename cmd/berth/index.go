package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/index"
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
	fmt.Fprintf(stdout, "replayed %d pending storage writes; indexed %d artifacts in %d repositories and %d tags; removed %d stale entries; %d damaged in storage left out (see the log)\n",
		st.Replayed, st.Artifacts, st.Repositories, st.Tags, st.Removed, st.Broken)
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
		broken := 0
		for _, d := range drift {
			if d.Kind == index.DriftBroken {
				broken++
			}
		}
		fmt.Fprintf(stdout, "%d differences between the index and storage: berth reindex repairs %d; %d are damaged in storage and need the damaged manifest or tag deleted\n",
			len(drift), len(drift)-broken, broken)
		return errDrift
	}
	fmt.Fprintln(stdout, "the index matches storage")
	return nil
}
