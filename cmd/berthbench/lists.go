package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	tagsRepo      = "library/tagslist"
	catalogPrefix = "library/cat"
)

// runTagsList: GET /v2/<name>/tags/list on a repository with o.tags tags
// (one tiny image, its manifest PUT under every tag): the first page of 100
// and a full walk by pages of 100 following Link, anonymous on both servers
// (berth: the public library project).
func runTagsList(ctx context.Context, b *bench) error {
	hc := newHTTPClient(b.o.seedConns + 2)
	img := newImage("")
	for _, s := range b.env.servers() {
		start := time.Now()
		for _, blob := range [][]byte{img.layer, img.config} {
			if err := s.pushSmallBlob(ctx, hc, s.seedAuth, tagsRepo, blob); err != nil {
				return err
			}
		}
		err := parallel(ctx, b.o.tags, b.o.seedConns, func(ctx context.Context, i int) error {
			return s.putManifest(ctx, hc, s.seedAuth, tagsRepo, fmt.Sprintf("t%06d", i), img.manifest)
		})
		if err != nil {
			return err
		}
		b.seeded(s.name, "tags (manifest PUTs)", b.o.tags, time.Since(start))
	}
	return listRounds(ctx, b, hc, "tags", "/v2/"+tagsRepo+"/tags/list?n=100", b.o.tags,
		fmt.Sprintf("%s tags", fmtCount(b.o.tags)), func(names []string) int { return len(names) })
}

// runCatalog: GET /v2/_catalog over o.repos repositories (the tiny image in
// each, blobs mounted from the first), first page of 100 and a full walk by
// pages of 100, anonymous. The catalogs also hold the other workloads'
// repositories (a handful).
func runCatalog(ctx context.Context, b *bench) error {
	hc := newHTTPClient(b.o.seedConns + 2)
	img := newImage("")
	first := fmt.Sprintf("%s%05d", catalogPrefix, 0)
	for _, s := range b.env.servers() {
		start := time.Now()
		if err := s.pushImage(ctx, hc, s.seedAuth, first, "latest", img); err != nil {
			return err
		}
		err := parallel(ctx, b.o.repos-1, b.o.seedConns, func(ctx context.Context, i int) error {
			repo := fmt.Sprintf("%s%05d", catalogPrefix, i+1)
			for _, blob := range [][]byte{img.layer, img.config} {
				if err := s.mountBlob(ctx, hc, s.seedAuth, repo, first, blob); err != nil {
					return err
				}
			}
			return s.putManifest(ctx, hc, s.seedAuth, repo, "latest", img.manifest)
		})
		if err != nil {
			return err
		}
		b.seeded(s.name, "repositories (2 mounts + manifest PUT each)", b.o.repos, time.Since(start))
	}
	return listRounds(ctx, b, hc, "repositories", "/v2/_catalog?n=100", b.o.repos,
		fmt.Sprintf("%s repositories", fmtCount(b.o.repos)), func(names []string) int {
			n := 0
			for _, name := range names {
				if strings.HasPrefix(name, catalogPrefix) {
					n++
				}
			}
			return n
		})
}

// listRounds checks that walking path finds want seeded names on each
// server, then times, per round and server, o.listFirstIters GETs of the
// first page and o.listWalkIters full walks; a round's value is the median.
func listRounds(ctx context.Context, b *bench, hc *http.Client, field, path string, want int, what string, count func([]string) int) error {
	section := "List endpoints (anonymous, one client; ms, lower is better)"
	for _, s := range b.env.servers() {
		names, reqs, err := walk(ctx, hc, s, path, field)
		if err != nil {
			return err
		}
		if got := count(names); got != want {
			return fmt.Errorf("%s: walking %s found %d seeded %s, want %d", s.name, path, got, field, want)
		}
		b.rep.notef("%s: a full walk of `%s` is %d requests on %s (%d names)", field, path, reqs, s.name, len(names))
	}
	endpoint := strings.SplitN(path, "?", 2)[0]
	if field == "tags" {
		endpoint = "tags/list"
	}
	for round := range b.o.rounds {
		for _, s := range b.env.inRound(round) {
			var first, walks []float64
			for range b.o.listFirstIters {
				t := time.Now()
				code, _, body, err := do(ctx, hc, call{method: http.MethodGet, url: s.base + path})
				if err := expect(s.name+": GET "+path, code, body, err, http.StatusOK); err != nil {
					return err
				}
				first = append(first, ms(time.Since(t)))
			}
			for range b.o.listWalkIters {
				t := time.Now()
				if _, _, err := walk(ctx, hc, s, path, field); err != nil {
					return err
				}
				walks = append(walks, ms(time.Since(t)))
			}
			b.rep.add(section, fmt.Sprintf("%s first page (n=100) of %s", endpoint, what), "ms", target{ratioAtMost, 0.1}, s.name, median(first))
			b.rep.add(section, fmt.Sprintf("%s full walk (n=100, Link) of %s", endpoint, what), "ms", target{ratioAtMost, 0.1}, s.name, median(walks))
			b.log.Info("list", "round", round+1, "server", s.name, "endpoint", endpoint, "first_ms", fmtNum(median(first)), "walk_ms", fmtNum(median(walks)))
		}
	}
	return nil
}

// walk GETs path and follows Link headers to the end, returning every name
// under field and the number of requests.
func walk(ctx context.Context, hc *http.Client, s *server, path, field string) ([]string, int, error) {
	var names []string
	reqs := 0
	for u := s.base + path; u != ""; reqs++ {
		code, h, body, err := do(ctx, hc, call{method: http.MethodGet, url: u})
		if err := expect(s.name+": GET "+u, code, body, err, http.StatusOK); err != nil {
			return nil, reqs, err
		}
		var page map[string]json.RawMessage
		var got []string
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, reqs, fmt.Errorf("%s: %s: %w", s.name, u, err)
		}
		if raw, ok := page[field]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &got); err != nil {
				return nil, reqs, fmt.Errorf("%s: %s: %w", s.name, u, err)
			}
		}
		names = append(names, got...)
		u = s.nextLink(h.Get("Link"))
	}
	return names, reqs, nil
}

// seeded notes how long seeding took on a server.
func (b *bench) seeded(srv, what string, n int, d time.Duration) {
	b.rep.notef("seeding %s %s over HTTP (%d clients) on %s: %s (%s/s)", fmtCount(n), what, b.o.seedConns, srv,
		d.Round(100*time.Millisecond), fmtNum(float64(n)/d.Seconds()))
	b.log.Info("seeded", "server", srv, "what", what, "n", n, "took", d.Round(100*time.Millisecond))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtCount(n int) string { return addCommas(fmt.Sprint(n)) }
