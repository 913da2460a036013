package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	manifestRepo   = "manifests"
	benchUser      = "bench"
	benchUserPW    = "berthbench-User-pw1"
	privateProject = "private"
)

// manifestCase is who asks for the manifest and how.
type manifestCase struct {
	token         bool
	method, byRef string // GET/HEAD, tag/digest
}

func (c manifestCase) name() string {
	who := "anonymous, public repository"
	if c.token {
		who = "bearer token, private repository"
	}
	return fmt.Sprintf("%s by %s, %s", c.method, c.byRef, who)
}

// manifestTarget is a server, repository and Authorization header for one
// auth mode.
type manifestTarget struct {
	srv   *server
	repo  string
	authz string
}

// runManifests: manifest HEAD and GET by tag and by digest, 16 keep-alive
// clients for a fixed duration, (a) anonymous on a public repository (berth:
// the public library project; stock: no auth), (b) with a bearer token on a
// private repository (berth: a guest of a private project, token from
// /service/token; stock: a second stock process on the same storage with
// `auth: token`, tokens minted here and signed by a key in its
// rootcertbundle).
func runManifests(ctx context.Context, b *bench) error {
	hc := newHTTPClient(b.o.manifestClients + 4)
	img := newImage("")
	digest := digestOf(img.manifest)
	br, st := b.env.berth, b.env.stock
	if err := berthUserAndPrivateProject(ctx, hc, br); err != nil {
		return err
	}
	for _, s := range b.env.servers() {
		for _, repo := range []string{"library/" + manifestRepo, privateProject + "/" + manifestRepo} {
			if err := s.pushImage(ctx, hc, s.seedAuth, repo, "v1", img); err != nil {
				return err
			}
		}
	}
	issuer, err := newStockIssuer(b.env.dir)
	if err != nil {
		return err
	}
	stTok, err := startStock(ctx, b.o.registryBin, b.env.dir, "stock-token", b.env.minio, issuer.authConfig())
	if err != nil {
		return err
	}
	defer stTok.proc.stop()
	privRepo := privateProject + "/" + manifestRepo
	stockAuthz, err := issuer.mint(privRepo, []string{"pull"}, 3*time.Hour)
	if err != nil {
		return err
	}
	berthAuthz, err := berthToken(ctx, hc, br, benchUser, benchUserPW, "repository:"+privRepo+":pull")
	if err != nil {
		return err
	}
	targets := map[bool]map[string]manifestTarget{
		false: {"berth": {br, "library/" + manifestRepo, ""}, "stock": {st, "library/" + manifestRepo, ""}},
		true:  {"berth": {br, privRepo, berthAuthz}, "stock": {stTok, privRepo, stockAuthz}},
	}
	var cases []manifestCase
	for _, tok := range []bool{false, true} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			for _, ref := range []string{"tag", "digest"} {
				cases = append(cases, manifestCase{tok, m, ref})
			}
		}
	}
	for round := range b.o.rounds {
		for _, c := range cases {
			tg := target{ratioAtLeast, 3}
			if c.token {
				tg = target{ratioAtLeast, 2.5}
			}
			for _, s := range b.env.inRound(round) {
				srvName := s.name
				t := targets[c.token][srvName]
				ref := "v1"
				if c.byRef == "digest" {
					ref = digest
				}
				u := t.srv.base + "/v2/" + t.repo + "/manifests/" + ref
				rps, p99, err := hammer(ctx, hc, c.method, u, t.authz, b.o.manifestClients, b.o.duration)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", srvName, c.name(), err)
				}
				b.rep.add(fmt.Sprintf("Manifest requests/s (%d keep-alive clients)", b.o.manifestClients), c.name(), "req/s", tg, srvName, rps)
				b.rep.add("Manifest p99 latency (same runs)", c.name(), "ms", target{}, srvName, p99)
				b.log.Info("manifests", "round", round+1, "server", srvName, "case", c.name(), "req/s", fmtNum(rps), "p99_ms", fmtNum(p99))
			}
		}
	}
	return nil
}

// berthUserAndPrivateProject creates the non-admin user and the private
// project it may pull from (as a guest).
func berthUserAndPrivateProject(ctx context.Context, hc *http.Client, br *server) error {
	api := br.base + "/api/berth/v1"
	steps := []struct {
		method, path, body string
		ok                 []int
	}{
		{http.MethodPost, "/users", fmt.Sprintf(`{"username":%q,"password":%q,"admin":false}`, benchUser, benchUserPW), []int{http.StatusCreated, http.StatusOK, http.StatusConflict}},
		{http.MethodPost, "/projects", fmt.Sprintf(`{"name":%q,"public":false}`, privateProject), []int{http.StatusCreated, http.StatusOK, http.StatusConflict}},
		{http.MethodPut, "/projects/" + privateProject + "/members/" + benchUser, `{"role":"guest"}`, []int{http.StatusOK, http.StatusCreated, http.StatusNoContent}},
	}
	for _, s := range steps {
		code, _, body, err := do(ctx, hc, call{method: s.method, url: api + s.path, authz: br.seedAuth,
			contentType: "application/json", body: strings.NewReader(s.body), size: int64(len(s.body))})
		if err := expect("berth: "+s.method+" "+s.path, code, body, err, s.ok...); err != nil {
			return err
		}
	}
	return nil
}

// hammer has n clients send method u back to back for d (after a warm-up of
// d/10 that is not counted) and returns requests/s and the p99 latency in ms.
// Any answer but 200 fails.
func hammer(ctx context.Context, hc *http.Client, method, u, authz string, n int, d time.Duration) (float64, float64, error) {
	var measuring atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]float64, n)
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	var stopAt atomic.Int64
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for ctx.Err() == nil {
				t := time.Now()
				if s := stopAt.Load(); s != 0 && t.UnixNano() >= s {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, method, u, nil)
				req.Header.Set("Accept", acceptAll)
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				resp, err := hc.Do(req)
				if err == nil {
					_, err = io.CopyBuffer(io.Discard, resp.Body, buf)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s %s: HTTP %d", method, u, resp.StatusCode)
					}
				}
				if err != nil {
					if ctx.Err() == nil {
						once.Do(func() { failure = err; cancel() })
					}
					return
				}
				if measuring.Load() {
					lat[c] = append(lat[c], float64(time.Since(t).Microseconds())/1000)
				}
			}
		}()
	}
	select {
	case <-time.After(d / 10):
	case <-ctx.Done():
	}
	measuring.Store(true)
	start := time.Now()
	stopAt.Store(start.Add(d).UnixNano())
	wg.Wait()
	elapsed := time.Since(start)
	if failure != nil {
		return 0, 0, failure
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("%s %s: no request completed", method, u)
	}
	return float64(len(all)) / elapsed.Seconds(), percentile(all, 99), nil
}
