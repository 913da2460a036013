// Command berth is a container registry: the CNCF distribution registry at its
// core, with management APIs beside it on the same store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

const usage = `berth: a container registry

Usage:
  berth serve [--addr HOST:PORT] [--data-dir DIR] [--config FILE] [--log-level LEVEL]
  berth reindex [flags]          rebuild the metadata index from storage (server stopped)
  berth check [flags]            report drift between index and storage; exit 1 on any
  berth gc [--dry-run] [--import] [flags]
                                 one garbage-collection pass now (safe while serving);
                                 --import first records what storage holds unknown to the index
  berth retention run|dry-run|set|show --project P [flags]
                                 a project's tag retention policy (set reads JSON on standard input)
  berth user add|passwd|list|delete   manage users (passwords on standard input)
  berth config [--config FILE]   print every setting, its environment variable and value
  berth version

reindex, check, gc and config take the same flags as serve.

Every setting can come from the YAML file, a BERTH_* environment variable or
a flag (flags win, then the environment, then the file).
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], environ, stderr)
	case "reindex":
		err = reindex(ctx, args[1:], environ, stdout, stderr)
	case "check":
		err = check(ctx, args[1:], environ, stdout, stderr)
		if errors.Is(err, errDrift) {
			return 1
		}
	case "gc":
		err = gcCmd(ctx, args[1:], environ, stdout, stderr)
	case "retention":
		err = retentionCmd(ctx, args[1:], environ, stdin, stdout, stderr)
	case "user":
		err = userCmd(ctx, args[1:], environ, stdin, stdout, stderr)
	case "config":
		err = printConfig(args[1:], environ, stdout)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "berth: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func versionString() string {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if len(c) > 12 {
		c = c[:12]
	}
	s := "berth " + version
	if c != "" {
		s += " (" + c + ")"
	}
	return s + " distribution v3.1.2 " + runtime.Version()
}
