package main

import (
	"bufio"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// header describes the run: machine, commit, date, Go versions, mode and
// settings.
func header(o *options, commit string, took time.Duration) string {
	var b strings.Builder
	mode := "filesystem storage, each server its own directory on the same disk"
	if o.s3 {
		mode = "S3: one MinIO started by the harness, one bucket, key prefixes /berth and /stock, 5 MiB parts on both"
	}
	kind := "full"
	if o.quick {
		kind = "quick (smoke test: sizes and durations too small to mean much)"
	}
	fmt.Fprintf(&b, "## Run\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Commit: %s\n", commit)
	fmt.Fprintf(&b, "- Machine: %s/%s, nproc %d, %s, %s memory\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), memTotal())
	fmt.Fprintf(&b, "- Go: harness %s; berth %s; stock registry %s\n", runtime.Version(), binVersion(o.berthBin), binVersion(o.registryBin))
	fmt.Fprintf(&b, "- Mode: %s, %s\n", kind, mode)
	fmt.Fprintf(&b, "- Rounds: %d; each round measures both servers, berth first in odd rounds and the stock registry first in even ones (blob pushes after a `sync`); tables show the median over rounds\n", o.rounds)
	fmt.Fprintf(&b, "- Blobs: sizes %s, clients %v, chunked uploads in %s PATCHes; manifests: %d clients for %s per case;"+
		" lists: %d tags, %d repositories; management lists: %d tags; HTTP seeding with %d clients\n",
		fmtSizes(o.sizes), o.clients, fmtSize(o.chunk), o.manifestClients, o.duration, o.tags, o.repos, o.mgmtTags, o.seedConns)
	fmt.Fprintf(&b, "- Command: `berthbench %s` (%s wall time)\n", strings.Join(os.Args[1:], " "), took.Round(time.Second))
	return b.String()
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}

// binVersion is the Go version (and module version) a binary was built with.
func binVersion(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "(unknown build)"
	}
	v := bi.GoVersion
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Path + "@" + bi.Main.Version + ", " + v
	}
	return v
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func fmtSizes(ns []int64) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmtSize(n))
	}
	return strings.Join(s, ", ")
}
