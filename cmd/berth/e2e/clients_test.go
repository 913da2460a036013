package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestCraneImageRoundTrip pushes a two-layer image with crane and reads it
// back every way crane offers: digest, manifest by tag and by digest,
// export of the flattened filesystem, pull to an OCI layout, and copy to
// another repository.
func TestCraneImageRoundTrip(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			crane := berthtest.Tool(t, "crane")
			dir := t.TempDir()
			hello := []byte("hello from berth\n")
			random := randomBytes(t, 3<<20)
			writeTar(t, filepath.Join(dir, "a.tar"), map[string][]byte{"etc/hello.txt": hello})
			writeTar(t, filepath.Join(dir, "b.tar"), map[string][]byte{"data/random.bin": random})
			ref := b.Addr + "/library/app:v1"

			pushed := craneAppend(t, ref, nil, filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar"))
			if got := craneDigest(t, ref); got != pushed {
				t.Errorf("crane digest = %s, crane append pushed %s", got, pushed)
			}

			// The manifest by tag and by digest is the same byte string,
			// hashing to the digest, with both layers.
			byTag := berthtest.Output(t, crane, "manifest", ref, "--insecure")
			byDigest := berthtest.Output(t, crane, "manifest", b.Addr+"/library/app@"+pushed, "--insecure")
			if byTag != byDigest {
				t.Errorf("manifest by tag and by digest differ:\n%s\n%s", byTag, byDigest)
			}
			if d := digestOf([]byte(byTag)); d != pushed {
				t.Errorf("sha256(manifest) = %s, want %s", d, pushed)
			}
			m := parseManifest(t, []byte(byTag))
			if len(m.Layers) != 2 {
				t.Fatalf("manifest has %d layers, want 2:\n%s", len(m.Layers), byTag)
			}
			if m.Layers[1].Size < 3<<20 {
				t.Errorf("random layer is %d bytes compressed, want >= %d", m.Layers[1].Size, 3<<20)
			}

			// The registry API agrees with crane: digest header, content
			// type, and every blob hashes to its digest.
			resp, body := getManifest(t, b, "GET", "library/app", "v1")
			if resp.StatusCode != http.StatusOK || string(body) != byTag {
				t.Errorf("GET manifest v1 = %d %q", resp.StatusCode, body)
			}
			if h := resp.Header.Get("Docker-Content-Digest"); h != pushed {
				t.Errorf("Docker-Content-Digest = %q, want %s", h, pushed)
			}
			if ct := resp.Header.Get("Content-Type"); ct != m.MediaType {
				t.Errorf("Content-Type = %q, want %q", ct, m.MediaType)
			}
			for _, d := range append([]descriptor{m.Config}, m.Layers...) {
				resp, blob := httpDo(t, "GET", b.URL("/v2/library/app/blobs/"+d.Digest), nil)
				if resp.StatusCode != http.StatusOK || digestOf(blob) != d.Digest || int64(len(blob)) != d.Size {
					t.Errorf("GET blob %s = %d, %d bytes hashing to %s; want 200, %d bytes", d.Digest, resp.StatusCode, len(blob), digestOf(blob), d.Size)
				}
			}

			// crane export flattens the layers back into the files pushed.
			export := filepath.Join(dir, "export.tar")
			berthtest.Run(t, crane, "export", ref, export, "--insecure")
			files := readTar(t, export)
			if !bytes.Equal(files["etc/hello.txt"], hello) {
				t.Errorf("exported etc/hello.txt = %q, want %q", files["etc/hello.txt"], hello)
			}
			if !bytes.Equal(files["data/random.bin"], random) {
				t.Errorf("exported data/random.bin differs (%d bytes, want %d)", len(files["data/random.bin"]), len(random))
			}

			// crane pull to an OCI layout keeps the manifest and blobs
			// byte for byte.
			layout := filepath.Join(dir, "layout")
			berthtest.Run(t, crane, "pull", "--format", "oci", ref, layout, "--insecure")
			var index manifest
			if err := json.Unmarshal(readFile(t, filepath.Join(layout, "index.json")), &index); err != nil {
				t.Fatal(err)
			}
			if len(index.Manifests) != 1 || index.Manifests[0].Digest != pushed {
				t.Errorf("pulled layout index = %+v, want one manifest %s", index.Manifests, pushed)
			}
			for _, d := range append([]descriptor{{Digest: pushed}, m.Config}, m.Layers...) {
				p := filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:"))
				if got := fileDigest(t, p); got != d.Digest {
					t.Errorf("layout blob %s hashes to %s", d.Digest, got)
				}
			}

			// crane pull to a tarball: the classic docker-save format holds
			// the config blob under its digest.
			tarball := filepath.Join(dir, "pull.tar")
			berthtest.Run(t, crane, "pull", ref, tarball, "--insecure")
			saved := readTar(t, tarball)
			var saveManifest []struct{ Config string }
			if err := json.Unmarshal(saved["manifest.json"], &saveManifest); err != nil || len(saveManifest) != 1 {
				t.Fatalf("pulled tarball manifest.json = %q (%v)", saved["manifest.json"], err)
			}
			if got := digestOf(saved[saveManifest[0].Config]); got != m.Config.Digest {
				t.Errorf("pulled tarball config hashes to %s, want %s", got, m.Config.Digest)
			}

			// crane copy to another repository keeps the digest and bytes.
			copyRef := b.Addr + "/library/copy:v1"
			berthtest.Run(t, crane, "copy", ref, copyRef, "--insecure")
			if got := craneDigest(t, copyRef); got != pushed {
				t.Errorf("copied digest = %s, want %s", got, pushed)
			}
			if got := berthtest.Output(t, crane, "manifest", b.Addr+"/library/copy@"+pushed, "--insecure"); got != byTag {
				t.Errorf("copied manifest differs:\n%s\n%s", got, byTag)
			}
			if tags := lines(berthtest.Output(t, crane, "ls", b.Addr+"/library/copy", "--insecure")); !slices.Equal(tags, []string{"v1"}) {
				t.Errorf("crane ls library/copy = %q, want [v1]", tags)
			}
		})
	}
}

// TestMultiArchIndex builds two single-platform images, joins them in an
// index with crane, and resolves each platform with crane and regctl.
func TestMultiArchIndex(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			crane := berthtest.Tool(t, "crane")
			regctl := berthtest.Tool(t, "regctl")
			dir := t.TempDir()
			repo := b.Addr + "/library/multi"

			platDigest := map[string]string{}
			for _, arch := range []string{"amd64", "arm64"} {
				layer := filepath.Join(dir, arch+".tar")
				writeTar(t, layer, map[string][]byte{"arch": []byte(arch + "\n")})
				base := craneAppend(t, repo+":base-"+arch, nil, layer)
				out := strings.TrimSpace(berthtest.Output(t, crane, "mutate", repo+"@"+base,
					"--set-platform", "linux/"+arch, "-t", repo+":"+arch, "--insecure"))
				platDigest[arch] = craneDigest(t, repo+":"+arch)
				if !strings.HasSuffix(out, "@"+platDigest[arch]) {
					t.Errorf("crane mutate printed %q, tag resolves to %s", out, platDigest[arch])
				}
			}
			if platDigest["amd64"] == platDigest["arm64"] {
				t.Fatal("both platform images have the same digest")
			}

			berthtest.Run(t, crane, "index", "append", "-m", repo+":amd64", "-m", repo+":arm64", "-t", repo+":v1", "--insecure")
			indexDigest := craneDigest(t, repo+":v1")
			raw := berthtest.Output(t, crane, "manifest", repo+":v1", "--insecure")
			if digestOf([]byte(raw)) != indexDigest {
				t.Errorf("sha256(index) = %s, crane digest = %s", digestOf([]byte(raw)), indexDigest)
			}
			idx := parseManifest(t, []byte(raw))
			if idx.MediaType != mtOCIIndex && idx.MediaType != mtDockerList {
				t.Errorf("index mediaType = %q", idx.MediaType)
			}
			got := map[string]string{}
			for _, d := range idx.Manifests {
				if d.Platform == nil {
					t.Errorf("index entry %s has no platform", d.Digest)
					continue
				}
				got[d.Platform.OS+"/"+d.Platform.Architecture] = d.Digest
			}
			want := map[string]string{"linux/amd64": platDigest["amd64"], "linux/arm64": platDigest["arm64"]}
			if len(idx.Manifests) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("index platforms = %v, want %v\n%s", got, want, raw)
			}

			// The registry serves the index with its own media type and
			// digest, and the children by digest.
			resp, body := getManifest(t, b, "GET", "library/multi", "v1")
			if resp.StatusCode != http.StatusOK || string(body) != raw ||
				resp.Header.Get("Content-Type") != idx.MediaType || resp.Header.Get("Docker-Content-Digest") != indexDigest {
				t.Errorf("GET index = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Docker-Content-Digest"))
			}
			for arch, d := range platDigest {
				resp, body := getManifest(t, b, "HEAD", "library/multi", d)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d {
					t.Errorf("HEAD %s child %s = %d %q", arch, d, resp.StatusCode, body)
				}
			}

			// crane and regctl both pick the right child per platform.
			for arch, d := range platDigest {
				if got := craneDigest(t, repo+":v1", "--platform", "linux/"+arch); got != d {
					t.Errorf("crane digest --platform linux/%s = %s, want %s", arch, got, d)
				}
			}
			berthtest.Run(t, regctl, "registry", "set", b.Addr, "--tls", "disabled")
			if got := strings.TrimSpace(berthtest.Output(t, regctl, "manifest", "digest", "--platform", "linux/arm64", repo+":v1")); got != platDigest["arm64"] {
				t.Errorf("regctl manifest digest --platform linux/arm64 = %q, want %s", got, platDigest["arm64"])
			}
			armRaw := berthtest.Output(t, regctl, "manifest", "get", "--platform", "linux/arm64", "--format", "raw-body", repo+":v1")
			if digestOf([]byte(armRaw)) != platDigest["arm64"] {
				t.Errorf("regctl manifest get --platform linux/arm64 body hashes to %s, want %s", digestOf([]byte(armRaw)), platDigest["arm64"])
			}
			var cfg struct {
				Architecture string `json:"architecture"`
				OS           string `json:"os"`
			}
			armCfg := berthtest.Output(t, crane, "config", repo+"@"+platDigest["arm64"], "--insecure")
			if err := json.Unmarshal([]byte(armCfg), &cfg); err != nil || cfg.OS != "linux" || cfg.Architecture != "arm64" {
				t.Errorf("arm64 child config = %s (%v)", armCfg, err)
			}
		})
	}
}

// TestCraneDeleteManifest deletes a manifest by digest and checks it and
// every tag on it are gone while the rest of the repository stays.
func TestCraneDeleteManifest(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			crane := berthtest.Tool(t, "crane")
			dir := t.TempDir()
			repo := b.Addr + "/library/app"
			writeTar(t, filepath.Join(dir, "gone.tar"), map[string][]byte{"gone": []byte("to be deleted\n")})
			writeTar(t, filepath.Join(dir, "keep.tar"), map[string][]byte{"keep": []byte("stays\n")})
			gone := craneAppend(t, repo+":v1", nil, filepath.Join(dir, "gone.tar"))
			berthtest.Run(t, crane, "tag", repo+":v1", "alias", "--insecure")
			keep := craneAppend(t, repo+":keep", nil, filepath.Join(dir, "keep.tar"))
			if tags := lines(berthtest.Output(t, crane, "ls", repo, "--insecure")); !slices.Equal(tags, []string{"alias", "keep", "v1"}) {
				t.Fatalf("before delete: crane ls = %q", tags)
			}

			berthtest.Run(t, crane, "delete", repo+"@"+gone, "--insecure")

			for _, ref := range []string{gone, "v1", "alias"} {
				resp, body := getManifest(t, b, "GET", "library/app", ref)
				if resp.StatusCode != http.StatusNotFound || !slices.Contains(errorCodes(body), "MANIFEST_UNKNOWN") {
					t.Errorf("GET manifest %s after delete = %d %s, want 404 MANIFEST_UNKNOWN", ref, resp.StatusCode, body)
				}
				resp, _ = getManifest(t, b, "HEAD", "library/app", ref)
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("HEAD manifest %s after delete = %d, want 404", ref, resp.StatusCode)
				}
			}
			if out, err := berthtest.RunErr(t, crane, "digest", repo+":v1", "--insecure"); err == nil {
				t.Errorf("crane digest of deleted tag succeeded: %s", out)
			}
			if tags := lines(berthtest.Output(t, crane, "ls", repo, "--insecure")); !slices.Equal(tags, []string{"keep"}) {
				t.Errorf("after delete: crane ls = %q, want [keep]", tags)
			}
			resp, body := httpDo(t, "GET", b.URL("/v2/library/app/tags/list"), nil)
			var list struct{ Tags []string }
			if err := json.Unmarshal(body, &list); resp.StatusCode != http.StatusOK || err != nil || !slices.Equal(list.Tags, []string{"keep"}) {
				t.Errorf("tags/list after delete = %d %s", resp.StatusCode, body)
			}
			if got := craneDigest(t, repo+":keep"); got != keep {
				t.Errorf("surviving tag keep = %s, want %s", got, keep)
			}

			// Deleting again is a 404, not a success.
			resp, body = httpDo(t, "DELETE", b.URL("/v2/library/app/manifests/"+gone), nil)
			if resp.StatusCode != http.StatusNotFound || !slices.Contains(errorCodes(body), "MANIFEST_UNKNOWN") {
				t.Errorf("second DELETE = %d %s, want 404 MANIFEST_UNKNOWN", resp.StatusCode, body)
			}
		})
	}
}

// TestTagListPagination pushes twelve tags in scrambled order and pages
// through /tags/list with n and the Link header.
func TestTagListPagination(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			crane := berthtest.Tool(t, "crane")
			dir := t.TempDir()
			repo := b.Addr + "/library/pag"
			pushOrder := []string{"v10", "latest", "v2", "1.0", "beta", "v1", "alpha", "v11", "2.0-rc1", "stable", "v3", "edge"}
			want := slices.Clone(pushOrder)
			slices.Sort(want)

			writeTar(t, filepath.Join(dir, "l.tar"), map[string][]byte{"f": []byte("pagination\n")})
			d := craneAppend(t, repo+":"+pushOrder[0], nil, filepath.Join(dir, "l.tar"))
			for _, tag := range pushOrder[1:] {
				berthtest.Run(t, crane, "tag", repo+"@"+d, tag, "--insecure")
			}

			// First page: exactly n tags, the lowest in lexical order, and a
			// Link to the next page.
			resp, body := httpDo(t, "GET", b.URL("/v2/library/pag/tags/list?n=5"), nil)
			var page struct {
				Name string
				Tags []string
			}
			if err := json.Unmarshal(body, &page); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("tags/list?n=5 = %d %s (%v)", resp.StatusCode, body, err)
			}
			if page.Name != "library/pag" || !slices.Equal(page.Tags, want[:5]) {
				t.Errorf("first page = %s, want tags %q", body, want[:5])
			}
			if link := resp.Header.Get("Link"); !strings.Contains(link, "last="+want[4]) || !strings.Contains(link, `rel="next"`) {
				t.Errorf("first page Link = %q, want last=%s and rel=\"next\"", link, want[4])
			}

			for _, n := range []int{5, 4, 1, 12, 100} {
				got, pages := followTagPages(t, b, n)
				if !slices.Equal(got, want) {
					t.Errorf("n=%d: paged through %q in %d pages, want %q", n, got, pages, want)
				}
				// Allow one trailing empty page when the count divides
				// evenly (distribution links past a full last page).
				if min := (len(want) + n - 1) / n; pages < min || pages > min+1 {
					t.Errorf("n=%d: %d pages, want %d", n, pages, min)
				}
			}

			if tags := lines(berthtest.Output(t, crane, "ls", repo, "--insecure")); !slices.Equal(tags, want) {
				t.Errorf("crane ls = %q, want %q", tags, want)
			}
		})
	}
}

// followTagPages GETs library/pag's tag list n at a time, following
// rel="next" Link headers, and returns every tag in order and the number of
// pages. It fails on a repeated tag,
// a page larger than n, or a runaway chain.
func followTagPages(t *testing.T, b *berthtest.Berth, n int) ([]string, int) {
	t.Helper()
	path := fmt.Sprintf("/v2/library/pag/tags/list?n=%d", n)
	var all []string
	seen := map[string]bool{}
	pages := 0
	for path != "" {
		if pages++; pages > 50 {
			t.Fatalf("more than 50 pages following %s", path)
		}
		resp, body := httpDo(t, "GET", b.URL(path), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		var page struct{ Tags []string }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
		if len(page.Tags) > n {
			t.Errorf("GET %s: %d tags, more than n=%d", path, len(page.Tags), n)
		}
		for _, tag := range page.Tags {
			if seen[tag] {
				t.Errorf("GET %s: tag %q repeated", path, tag)
			}
			seen[tag] = true
		}
		all = append(all, page.Tags...)
		path = nextLink(t, b, resp.Header.Get("Link"))
	}
	return all, pages
}

// nextLink extracts the target of a `<url>; rel="next"` Link header.
func nextLink(t *testing.T, b *berthtest.Berth, link string) string {
	t.Helper()
	if link == "" {
		return ""
	}
	target, params, ok := strings.Cut(link, ";")
	target = strings.TrimSpace(target)
	if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") || !strings.Contains(params, `rel="next"`) {
		t.Fatalf("malformed Link header %q", link)
	}
	target = strings.Trim(target, "<>")
	if strings.HasPrefix(target, "http://") {
		// An absolute link must point back at this registry.
		host, rest, _ := strings.Cut(strings.TrimPrefix(target, "http://"), "/")
		if host != b.Addr {
			t.Errorf("Link %q points at host %q, not %s", link, host, b.Addr)
		}
		target = "/" + rest
	}
	if !strings.HasPrefix(target, "/v2/") {
		t.Fatalf("Link target %q is not a /v2/ path", target)
	}
	return target
}
