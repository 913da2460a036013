package registry

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/gorilla/mux"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// distributionMatch is what distribution's router makes of p.
func distributionMatch(p string) (name, ref string, ok bool) {
	var m mux.RouteMatch
	req := httptest.NewRequest(http.MethodGet, "http://x"+p, nil)
	if !v2.Router().Match(req, &m) || m.Route == nil || m.Route.GetName() != v2.RouteNameManifest {
		return "", "", false
	}
	return m.Vars["name"], m.Vars["reference"], true
}

func TestParseManifestPath(t *testing.T) {
	for _, c := range []struct {
		path, name, ref string
		ok              bool
	}{
		{"/v2/library/hot/manifests/v1", "library/hot", "v1", true},
		{"/v2/a/manifests/sha256:" + hex64, "a", "sha256:" + hex64, true},
		{"/v2/a/manifests/sha512:" + hex64 + hex64, "a", "sha512:" + hex64 + hex64, true},
		{"/v2/a-b__c.d_e/f--g/manifests/V1.0_rc-1", "a-b__c.d_e/f--g", "V1.0_rc-1", true},
		{"/v2/a/manifests/b/manifests/latest", "a/manifests/b", "latest", true},
		{"/v2/a/manifests/_x", "a", "_x", true},
		{"/v2/a/manifests/" + strings.Repeat("t", 128), "a", strings.Repeat("t", 128), true},
		{"/v2/a/manifests/" + strings.Repeat("t", 129), "", "", false},
		{"/v2/a/manifests/.x", "", "", false},
		{"/v2/a/manifests/-x", "", "", false},
		{"/v2/a/manifests/", "", "", false},
		{"/v2/manifests/v1", "", "", false},
		{"/v2//manifests/v1", "", "", false},
		{"/v2/A/manifests/v1", "", "", false},
		{"/v2/a_/manifests/v1", "", "", false},
		{"/v2/a___b/manifests/v1", "", "", false},
		{"/v2/a._b/manifests/v1", "", "", false},
		{"/v2/a//b/manifests/v1", "", "", false},
		{"/v2/../manifests/v1", "", "", false},
		{"/v2/localhost:5000/a/manifests/v1", "", "", false}, // distribution's; not ours
		{"/v2/a/manifests/v1/", "", "", false},
		{"/v2/a/manifests/sha256:abc", "", "", false},
		{"/v2/a/tags/list", "", "", false},
		{"/v2/a/blobs/sha256:" + hex64, "", "", false},
		{"/v3/a/manifests/v1", "", "", false},
	} {
		name, ref, ok := parseManifestPath(c.path)
		if name != c.name || ref != c.ref || ok != c.ok {
			t.Errorf("parseManifestPath(%q) = %q, %q, %v; want %q, %q, %v", c.path, name, ref, ok, c.name, c.ref, c.ok)
		}
		if !ok {
			continue
		}
		if dn, dr, dok := distributionMatch(c.path); !dok || dn != name || dr != ref {
			t.Errorf("%q: distribution matches %q, %q, %v", c.path, dn, dr, dok)
		}
	}
}

// alnum are the name components and reference tails of the random tests.
var alnum = []string{"a", "z9", "0", "lib"}

// randomV2Name writes "/v2/" and a mostly well-formed repository name of
// one to six components, with junk thrown into one in ten.
func randomV2Name(b *strings.Builder, rng *rand.Rand, junk []string) {
	seps := []string{"-", "--", "_", "__", ".", "/", "/"}
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	b.WriteString("/v2/")
	for i := range 1 + rng.IntN(6) {
		if i > 0 {
			b.WriteString(pick(seps))
		}
		b.WriteString(pick(alnum))
		if rng.IntN(10) == 0 {
			b.WriteString(pick(junk))
		}
	}
}

// TestParseManifestPathRandom: on random paths, whatever parseManifestPath
// accepts distribution's router routes to the manifest handler with the
// same name and reference.
func TestParseManifestPathRandom(t *testing.T) {
	junk := []string{"B", ":", "___", "/manifests/", "sha256:", hex64[:32], "..", "//", "-"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	accepted := 0
	for range 20000 {
		// Mostly well-formed names and references, with junk thrown in.
		var b strings.Builder
		randomV2Name(&b, rng, junk)
		b.WriteString("/manifests/")
		switch rng.IntN(4) {
		case 0:
			b.WriteString("sha256:" + hex64[:32+rng.IntN(33)])
		case 1:
			b.WriteString(pick(junk) + pick(alnum))
		default:
			b.WriteString(pick([]string{"v1", "_x", "V1.0-rc_2", "latest"}))
		}
		if rng.IntN(10) == 0 {
			b.WriteString(pick(junk))
		}
		p := b.String()
		name, ref, ok := parseManifestPath(p)
		if !ok {
			continue
		}
		accepted++
		if dn, dr, dok := distributionMatch(p); !dok || dn != name || dr != ref {
			t.Fatalf("%q: ours %q, %q; distribution %q, %q, %v", p, name, ref, dn, dr, dok)
		}
	}
	if accepted < 5000 {
		t.Errorf("only %d random paths accepted: the generator tests too little", accepted)
	}
}

func TestV2Shadows(t *testing.T) {
	h := http.NotFoundHandler()
	for _, c := range []struct {
		name     string
		mount    func(r *mux.Router)
		off      bool
		shadowed []string
	}{
		{"none", func(*mux.Router) {}, false, nil},
		{"elsewhere", func(r *mux.Router) {
			r.Path("/healthz").Handler(h)
			r.PathPrefix("/api/v1").Subrouter().Path("/users/{id}").Handler(h)
		}, false, nil},
		{"under /v2", func(r *mux.Router) {
			r.Path("/v2/manage/namespaces/{ns}").Handler(h)
			r.Path("/v2/manage/namespaces/{ns}/repos").Handler(h)
			r.PathPrefix("/v2/ext/").Handler(h)
		}, false, []string{"/v2/ext/", "/v2/manage/namespaces/"}},
		{"variable at /v2/", func(r *mux.Router) { r.Path("/v2/{x}/manifests/{y}").Handler(h) }, true, nil},
		{"catch-all", func(r *mux.Router) { r.PathPrefix("/").Handler(h) }, true, nil},
		{"no path", func(r *mux.Router) { r.Methods(http.MethodGet).Handler(h) }, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mux.NewRouter()
			c.mount(r)
			off, shadowed := v2Shadows(r)
			if off != c.off || (!off && strings.Join(shadowed, " ") != strings.Join(c.shadowed, " ")) {
				t.Errorf("v2Shadows = %v, %q; want %v, %q", off, shadowed, c.off, c.shadowed)
			}
		})
	}
}

// distributionRoute is the route and name distribution's router gives p.
func distributionRoute(p string) (name, route string, ok bool) {
	var m mux.RouteMatch
	req := httptest.NewRequest(http.MethodPatch, "http://x"+p, nil)
	if !v2.Router().Match(req, &m) || m.Route == nil {
		return "", "", false
	}
	return m.Vars["name"], m.Route.GetName(), true
}

func TestParseUploadPath(t *testing.T) {
	const up, chunk = v2.RouteNameBlobUpload, v2.RouteNameBlobUploadChunk
	for _, c := range []struct {
		path, name, route string
		ok                bool
	}{
		{"/v2/library/app/blobs/uploads/", "library/app", up, true},
		{"/v2/a/blobs/uploads/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab", "a", chunk, true},
		{"/v2/a/blobs/uploads/Zm9v_YmFy.x=", "a", chunk, true},
		{"/v2/a-b__c.d/e/blobs/uploads/", "a-b__c.d/e", up, true},
		{"/v2/a/blobs/uploads/blobs/uploads/", "a/blobs/uploads", up, true},
		{"/v2/a/blobs/uploads/x/blobs/uploads/y", "a/blobs/uploads/x", chunk, true},
		{"/v2/a/blobs/uploads/x/", "", "", false},
		{"/v2/a/blobs/uploads/x:y", "", "", false},
		{"/v2/a/blobs/uploads/x%2Fy", "", "", false},
		{"/v2/blobs/uploads/", "", "", false},
		{"/v2//blobs/uploads/", "", "", false},
		{"/v2/A/blobs/uploads/", "", "", false},
		{"/v2/../blobs/uploads/", "", "", false},
		{"/v2/localhost:5000/a/blobs/uploads/", "", "", false}, // distribution's; not ours
		{"/v2/a/blobs/uploads", "", "", false},
		{"/v2/a/blobs/sha256:" + hex64, "", "", false},
		{"/v2/a/manifests/v1", "", "", false},
		{"/v3/a/blobs/uploads/", "", "", false},
	} {
		name, route, ok := parseUploadPath(c.path)
		if name != c.name || route != c.route || ok != c.ok {
			t.Errorf("parseUploadPath(%q) = %q, %q, %v; want %q, %q, %v", c.path, name, route, ok, c.name, c.route, c.ok)
		}
		if !ok {
			continue
		}
		if dn, dr, dok := distributionRoute(c.path); !dok || dn != name || dr != route {
			t.Errorf("%q: distribution routes it to %q, %q, %v", c.path, dn, dr, dok)
		}
	}
}

// TestParseUploadPathRandom: whatever parseUploadPath accepts among random
// paths, distribution's router routes the same way with the same name.
func TestParseUploadPathRandom(t *testing.T) {
	junk := []string{"B", ":", "___", "/blobs/uploads/", "/blobs/", "/manifests/", "sha256:", "..", "//", "-", "="}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	accepted := 0
	for range 20000 {
		var b strings.Builder
		randomV2Name(&b, rng, junk)
		b.WriteString("/blobs/uploads/")
		switch rng.IntN(3) {
		case 0:
		case 1:
			b.WriteString(pick([]string{"0f1e2d3c-aaaa-bbbb", "Zm9v_YmFy.x=", "u"}))
		default:
			b.WriteString(pick(junk) + pick(alnum))
		}
		p := b.String()
		name, route, ok := parseUploadPath(p)
		if !ok {
			continue
		}
		accepted++
		if dn, dr, dok := distributionRoute(p); !dok || dn != name || dr != route {
			t.Fatalf("%q: ours %q, %q; distribution %q, %q, %v", p, name, route, dn, dr, dok)
		}
	}
	if accepted < 5000 {
		t.Errorf("only %d random paths accepted: the generator tests too little", accepted)
	}
}
