package main

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// gcCmd runs one garbage-collection pass: `berth gc [--dry-run] [--import]`
// with serve's flags. Safe while the server runs.
func gcCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	dryRun, importStore := slices.Contains(args, "--dry-run"), slices.Contains(args, "--import")
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--dry-run" || a == "--import" })
	o, err := openOffline(ctx, "gc", args, environ, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	imp, r, err := o.GC(ctx, dryRun, importStore)
	if importStore {
		fmt.Fprintf(stdout, "imported %d blobs and %d repository links storage holds and the index did not know (reviewed after gc.delay)\n", imp.Blobs, imp.Links)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r.String())
	return nil
}
