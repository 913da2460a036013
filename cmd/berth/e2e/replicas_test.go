package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// replicaSet is berth scaled out: replicas on one MinIO bucket, one
// PostgreSQL database and one Redis blob-descriptor cache, behind a
// round-robin proxy whose address is their public URL.
type replicaSet struct {
	// front is the proxy, addressed like one berth (URL, Addr and
	// AdminPassword; it is not a process of its own).
	front    *berthtest.Berth
	proxy    *roundRobin
	replicas []*berthtest.Berth
	redis    *berthtest.Redis
	env      []string
}

// targets are the ways to reach berth a consistency check asks: every
// replica directly, then the front once per replica (round robin, so each
// replica answers once more through the proxy).
func (rs *replicaSet) targets() []target {
	var out []target
	for i, r := range rs.replicas {
		out = append(out, target{fmt.Sprintf("replica %d", i), r})
	}
	for i := range rs.replicas {
		out = append(out, target{fmt.Sprintf("front #%d", i+1), rs.front})
	}
	return out
}

// frontTargets reach berth through the front only, once per replica: for
// clients that refuse a token realm on another host than the registry's
// (crane does, for private addresses), which a replica addressed directly
// sends, as its realm is under the public URL.
func (rs *replicaSet) frontTargets() []target {
	var out []target
	for _, tg := range rs.targets() {
		if tg.b == rs.front {
			out = append(out, tg)
		}
	}
	return out
}

type target struct {
	name string
	b    *berthtest.Berth
}

// replicaStep is one workload run through the front, with the checks that
// every replica answers alike afterwards.
type replicaStep struct {
	name string
	run  func(t *testing.T, rs *replicaSet)
}

// replicaSteps run in order on one replica set: each through the front,
// then checked on every replica and by the final `berth check`.
var replicaSteps = []replicaStep{
	{"crane push pull and copy", replicaCrane},
	{"chunked upload across replicas", replicaChunkedUpload},
	{"tag moves", replicaTagMoves},
	{"deletes", replicaDeletes},
	{"oras artifacts", replicaOras},
	{"helm charts over OCI and the chart repository", replicaHelm},
	{"credential resets", replicaCredentials},
	{"garbage collection on every replica at once", replicaGC},
}

// TestReplicasBehindOneAddress runs three berth processes on one MinIO,
// PostgreSQL and Redis behind a round-robin reverse proxy, drives pushes,
// pulls, deletes, tag moves and credential resets through the proxy with
// real clients, and checks after each that every replica answers the same
// (a moved tag, a deleted manifest, an old password: at once, everywhere).
// Afterwards, with the replicas stopped, `berth check` finds the index and
// storage in agreement.
func TestReplicasBehindOneAddress(t *testing.T) {
	minio := berthtest.StartMinIO(t)
	redis := berthtest.StartRedis(t)
	proxy := startRoundRobin(t)
	env := append(minio.Env("replicas"), redis.Env()...)
	env = append(env,
		"BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t),
		"BERTH_PUBLIC_URL=http://"+proxy.Addr,
		// Passes run when a step asks for them, with nothing held back.
		"BERTH_GC_ENABLED=false", "BERTH_GC_DELAY=0s",
		// The credential step tries old passwords on every replica from
		// one address on purpose: more than a guesser's allowance, which
		// the replicas count together (TestLoginThrottlingAcrossReplicas).
		"BERTH_AUTH_MAX_FAILURES=100")

	// Like a Deployment rolling out on empty storage: all start at once.
	rs := &replicaSet{proxy: proxy, redis: redis, env: env, replicas: make([]*berthtest.Berth, 3)}
	var wg sync.WaitGroup
	errs := make([]error, len(rs.replicas))
	for i := range rs.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs.replicas[i], errs[i] = berthtest.StartErr(t, berthtest.Options{Env: env})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	proxy.setBackends(rs.replicas)
	rs.front = &berthtest.Berth{Addr: proxy.Addr, AdminPassword: berthtest.AdminPassword}
	berthtest.RememberCredentials(t, proxy.Addr, "admin", berthtest.AdminPassword)

	for _, s := range replicaSteps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, rs) }) {
			t.Logf("requests per replica so far: %v", proxy.Hits())
		}
	}

	hits := proxy.Hits()
	for i, n := range hits {
		if n == 0 {
			t.Errorf("replica %d got no request through the proxy (%v)", i, hits)
		}
	}
	if n := redis.Keys(t); n == 0 {
		t.Error("the replicas left nothing in the shared Redis cache")
	}
	t.Logf("requests per replica through the proxy: %v; keys in Redis: %d", hits, redis.Keys(t))

	for i, r := range rs.replicas {
		if err := r.Stop(); err != nil {
			t.Errorf("replica %d: exit after SIGTERM: %v", i, err)
		}
	}
	cmd := exec.Command(berthtest.Binary(t), "check", "--data-dir", t.TempDir())
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "the index matches storage") {
		t.Errorf("berth check after the workload: %v\n%s", err, out)
	}
}

// sameEverywhere runs check against every target and fails the test
// (naming the target) when it reports a difference.
func sameEverywhere(t *testing.T, rs *replicaSet, what string, check func(b *berthtest.Berth) error) {
	t.Helper()
	for _, tg := range rs.targets() {
		if err := check(tg.b); err != nil {
			t.Errorf("%s on %s: %v", what, tg.name, err)
		}
	}
}

// manifestAt GETs (or HEADs) a manifest on b and returns the status, the
// Docker-Content-Digest header and the OCI error codes.
func manifestAt(t *testing.T, b *berthtest.Berth, method, repo, ref string) (int, string, []string) {
	t.Helper()
	resp, body := httpDo(t, method, b.URL("/v2/"+repo+"/manifests/"+ref), map[string]string{"Accept": acceptAllManifests})
	return resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), errorCodes(body)
}

// wantManifest is a sameEverywhere check: ref resolves to digest.
func wantManifest(t *testing.T, repo, ref, digest string) func(b *berthtest.Berth) error {
	return func(b *berthtest.Berth) error {
		for _, m := range []string{http.MethodHead, http.MethodGet} {
			code, got, codes := manifestAt(t, b, m, repo, ref)
			if code != http.StatusOK || got != digest {
				return fmt.Errorf("%s %s:%s = %d %s %v, want 200 %s", m, repo, ref, code, got, codes, digest)
			}
		}
		return nil
	}
}

// wantNoManifest is a sameEverywhere check: ref is unknown (404).
func wantNoManifest(t *testing.T, repo, ref string) func(b *berthtest.Berth) error {
	return func(b *berthtest.Berth) error {
		for _, m := range []string{http.MethodHead, http.MethodGet} {
			code, got, codes := manifestAt(t, b, m, repo, ref)
			if code != http.StatusNotFound {
				return fmt.Errorf("%s %s:%s = %d %s %v, want 404", m, repo, ref, code, got, codes)
			}
			if m == http.MethodGet && (len(codes) != 1 || (codes[0] != "MANIFEST_UNKNOWN" && codes[0] != "NAME_UNKNOWN")) {
				return fmt.Errorf("GET %s:%s: error codes %v, want MANIFEST_UNKNOWN", repo, ref, codes)
			}
		}
		return nil
	}
}
