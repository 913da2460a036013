// Command berthbench runs the same workloads against berth and the stock
// CNCF distribution registry (the version berth embeds), side by side on
// loopback with equivalent storage, alternating between them over several
// rounds, and prints a Markdown table of medians with the ratio berth/stock
// and the targets of issue #11. `make bench` runs it in full; -quick is a
// smoke test of the harness that takes seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command line, resolved.
type options struct {
	quick, s3, keepWork                  bool
	only                                 *regexp.Regexp
	rounds                               int
	out                                  string
	berthBin, registryBin, minioBin      string
	berthEnv                             []string // extra BERTH_* settings
	workDir                              string
	sizes                                []int64       // blob sizes
	clients                              []int         // concurrent blob clients
	chunk                                int64         // PATCH size of chunked uploads
	repBytes                             int64         // a blob case repeats until it moved this much
	minBlobTime                          time.Duration // ... and ran this long
	duration                             time.Duration
	manifestClients                      int
	tags, repos, mgmtTags, seedConns     int
	listFirstIters, listWalkIters, pages int
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "berthbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	md, err := run(ctx, o, log)
	if md != "" {
		fmt.Print(md)
	}
	if err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("berthbench", flag.ContinueOnError)
	o := &options{}
	only := fs.String("only", "", "run only the workloads whose name matches this regexp (blobs, manifests, tags, catalog, mgmt)")
	fs.BoolVar(&o.quick, "quick", false, "small sizes, one round, a few seconds per workload: a smoke test of the harness")
	fs.BoolVar(&o.s3, "s3", false, "both servers on one MinIO (started here), different key prefixes, instead of the filesystem")
	fs.IntVar(&o.rounds, "rounds", 7, "rounds; each round measures both servers, berth first in odd rounds, stock first in even ones")
	fs.StringVar(&o.out, "out", "", "also write the results into this Markdown file (e.g. docs/benchmarks.md)")
	fs.StringVar(&o.berthBin, "berth", "bin/berth", "berth binary (make build)")
	fs.StringVar(&o.registryBin, "registry", ".tools/bin/registry", "stock registry binary (make tools)")
	fs.StringVar(&o.minioBin, "minio", ".tools/bin/minio", "MinIO binary for -s3 (make tools)")
	fs.StringVar(&o.workDir, "workdir", "", "directory for the servers' data and logs (default: a new temporary one, removed at the end)")
	fs.BoolVar(&o.keepWork, "keep", false, "keep the work directory")
	berthEnv := fs.String("berth-env", "", "extra settings for berth, comma-separated BERTH_KEY=value (e.g. BERTH_STORAGE_FILESYSTEM_DIRECT_WRITES=true)")
	sizes := fs.String("sizes", "", "blob sizes, e.g. 1M,64M,512M (default by mode; 16 clients only up to 8 GiB in all)")
	chunk := fs.String("chunk", "", "PATCH size of chunked uploads, e.g. 5M (default 5 MiB, quick 2 MiB)")
	clients := fs.String("clients", "", "concurrent blob clients, e.g. 1,16 (default by mode)")
	fs.DurationVar(&o.duration, "duration", 0, "how long each manifest case runs (default 5s, quick 1s)")
	fs.IntVar(&o.tags, "tags", 0, "tags in the tags/list repository (default 10000)")
	fs.IntVar(&o.repos, "repos", 0, "repositories for _catalog (default 5000)")
	fs.IntVar(&o.mgmtTags, "mgmt-tags", 0, "tags (distinct manifests) for the management lists (default 100000)")
	fs.IntVar(&o.seedConns, "seed-conns", 16, "concurrent clients seeding over HTTP")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.only, err = regexp.Compile(*only); err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	if *chunk != "" {
		cs, err := parseSizes(*chunk)
		if err != nil || len(cs) != 1 {
			return nil, fmt.Errorf("-chunk: bad size %q", *chunk)
		}
		o.chunk = cs[0]
	}
	o.defaults()
	if *sizes != "" {
		if o.sizes, err = parseSizes(*sizes); err != nil {
			return nil, fmt.Errorf("-sizes: %w", err)
		}
	}
	if *clients != "" {
		o.clients = nil
		for _, f := range strings.Split(*clients, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("-clients: bad count %q", f)
			}
			o.clients = append(o.clients, n)
		}
	}
	for _, kv := range strings.Split(*berthEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if !strings.HasPrefix(kv, "BERTH_") || !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("-berth-env: %q is not BERTH_KEY=value", kv)
		}
		o.berthEnv = append(o.berthEnv, kv)
	}
	if o.rounds < 1 {
		return nil, errors.New("-rounds must be at least 1")
	}
	return o, nil
}

// defaults fills what the flags left at zero, by mode.
func (o *options) defaults() {
	set := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	o.sizes, o.clients = []int64{1 << 20, 64 << 20, 256 << 20, 512 << 20, 1 << 30}, []int{1, 16}
	chunk := int64(5 << 20) // the smallest S3 part, as docker-style clients often send
	if o.quick {
		o.sizes, o.clients, chunk = []int64{1 << 20, 8 << 20}, []int{1, 4}, 2<<20
		o.rounds = 1
	}
	if o.chunk == 0 {
		o.chunk = chunk
	}
	o.repBytes, o.minBlobTime = 256<<20, 3*time.Second
	if o.quick {
		o.repBytes, o.minBlobTime = 16<<20, 0
	}
	if o.duration == 0 {
		o.duration = 5 * time.Second
		if o.quick {
			o.duration = time.Second
		}
	}
	o.manifestClients = 16
	set(&o.tags, 10000, 300)
	set(&o.repos, 5000, 150)
	set(&o.mgmtTags, 100000, 500)
	set(&o.listFirstIters, 20, 5)
	set(&o.listWalkIters, 3, 1)
	set(&o.pages, 200, 30)
}

// parseSizes reads "1M,64M,512M" (K, M, G are powers of 1024).
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		mult := int64(1)
		switch {
		case strings.HasSuffix(f, "K"):
			mult = 1 << 10
		case strings.HasSuffix(f, "M"):
			mult = 1 << 20
		case strings.HasSuffix(f, "G"):
			mult = 1 << 30
		}
		n, err := strconv.ParseInt(strings.TrimRight(f, "KMG"), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

// workload is one named group of measurements.
type workload struct {
	name string
	run  func(ctx context.Context, b *bench) error
}

func workloads() []workload {
	return []workload{
		{"blobs", runBlobs},
		{"manifests", runManifests},
		{"tags", runTagsList},
		{"catalog", runCatalog},
		{"mgmt", runMgmt},
	}
}

// bench is what a workload works with.
type bench struct {
	o   *options
	log *slog.Logger
	env *env
	rep *report
	dg  *digests
}

// run starts the servers, runs the selected workloads and returns the
// Markdown report (also written to -out).
func run(ctx context.Context, o *options, log *slog.Logger) (string, error) {
	started, commit := time.Now(), gitCommit()
	if o.workDir == "" {
		dir, err := os.MkdirTemp("", "berthbench-")
		if err != nil {
			return "", err
		}
		o.workDir = dir
		if !o.keepWork {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return "", err
	}
	for _, bin := range []string{o.berthBin, o.registryBin} {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%v (make build, make tools)", err)
		}
	}
	e, err := startEnv(ctx, log, o)
	if err != nil {
		return "", err
	}
	defer e.close()
	b := &bench{o: o, log: log, env: e, rep: &report{}, dg: newDigests()}
	var errs []error
	for _, w := range workloads() {
		if !o.only.MatchString(w.name) {
			continue
		}
		t := time.Now()
		log.Info("workload", "name", w.name)
		if err := w.run(ctx, b); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
			b.rep.notef("workload %s failed: %v", w.name, err)
			log.Error("workload failed", "name", w.name, "err", err)
		}
		if err := e.checkAlive(); err != nil {
			return "", err
		}
		log.Info("workload done", "name", w.name, "took", time.Since(t).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	md := header(o, commit, time.Since(started)) + b.rep.markdown()
	if o.out != "" {
		if err := writeOut(o.out, md); err != nil {
			errs = append(errs, err)
		}
	}
	return md, errors.Join(errs...)
}
