package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestOrasArtifact pushes a two-file OCI artifact with oras, pulls it into
// another directory and fetches its manifest.
func TestOrasArtifact(t *testing.T) {
	const artifactType = "application/vnd.berth.test"
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			oras := berthtest.Tool(t, "oras")
			src, dst := t.TempDir(), t.TempDir()
			text := []byte("an artifact stored by berth\n")
			bin := randomBytes(t, 256<<10)
			writeFile(t, filepath.Join(src, "file.txt"), text)
			writeFile(t, filepath.Join(src, "data.bin"), bin)
			ref := b.Addr + "/library/artifact:v1"

			// oras records file names as given, so push from src.
			out := berthtest.RunIn(t, src, nil, oras, "push", "--plain-http", ref,
				"file.txt:text/plain", "data.bin:application/octet-stream", "--artifact-type", artifactType)
			pushed := regexp.MustCompile(`Digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
			if pushed == nil {
				t.Fatalf("oras push printed no digest:\n%s", out)
			}

			berthtest.Run(t, oras, "pull", "--plain-http", ref, "-o", dst)
			if got := readFile(t, filepath.Join(dst, "file.txt")); !bytes.Equal(got, text) {
				t.Errorf("pulled file.txt = %q, want %q", got, text)
			}
			if got := readFile(t, filepath.Join(dst, "data.bin")); !bytes.Equal(got, bin) {
				t.Errorf("pulled data.bin differs (%d bytes, want %d)", len(got), len(bin))
			}

			raw := berthtest.Output(t, oras, "manifest", "fetch", "--plain-http", ref)
			if got := digestOf([]byte(raw)); got != pushed[1] {
				t.Errorf("sha256(oras manifest fetch) = %s, oras push reported %s", got, pushed[1])
			}
			m := parseManifest(t, []byte(raw))
			if m.MediaType != mtOCIManifest || m.ArtifactType != artifactType {
				t.Errorf("manifest mediaType %q artifactType %q, want %q %q", m.MediaType, m.ArtifactType, mtOCIManifest, artifactType)
			}
			layers := map[string]descriptor{}
			for _, l := range m.Layers {
				layers[l.Annotations["org.opencontainers.image.title"]] = l
			}
			for name, wantType := range map[string]string{"file.txt": "text/plain", "data.bin": "application/octet-stream"} {
				l, ok := layers[name]
				if !ok {
					t.Errorf("manifest has no layer titled %s:\n%s", name, raw)
					continue
				}
				if l.MediaType != wantType || l.Digest != fileDigest(t, filepath.Join(src, name)) {
					t.Errorf("layer %s = %s %s, want %s %s", name, l.MediaType, l.Digest, wantType, fileDigest(t, filepath.Join(src, name)))
				}
			}

			var desc descriptor
			descOut := berthtest.Output(t, oras, "manifest", "fetch", "--plain-http", "--descriptor", ref)
			if err := json.Unmarshal([]byte(descOut), &desc); err != nil || desc.Digest != pushed[1] || desc.Size != int64(len(raw)) {
				t.Errorf("oras manifest fetch --descriptor = %s (%v), want digest %s size %d", descOut, err, pushed[1], len(raw))
			}
			// Fetch by digest too, straight from the registry API.
			resp, body := getManifest(t, b, "GET", "library/artifact", pushed[1])
			if resp.StatusCode != http.StatusOK || string(body) != raw || resp.Header.Get("Content-Type") != mtOCIManifest {
				t.Errorf("GET manifest by digest = %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

// TestHelmChartOCI packages a chart, pushes it to oci://berth and pulls it
// back byte for byte.
func TestHelmChartOCI(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			helm := berthtest.Tool(t, "helm")
			dir := t.TempDir()
			helmHome := t.TempDir()
			env := []string{
				"HELM_CACHE_HOME=" + filepath.Join(helmHome, "cache"),
				"HELM_CONFIG_HOME=" + filepath.Join(helmHome, "config"),
				"HELM_DATA_HOME=" + filepath.Join(helmHome, "data"),
			}

			berthtest.RunEnv(t, env, helm, "create", filepath.Join(dir, "mychart"))
			berthtest.RunEnv(t, env, helm, "package", filepath.Join(dir, "mychart"), "-d", filepath.Join(dir, "pkg"))
			tgz := filepath.Join(dir, "pkg", "mychart-0.1.0.tgz")
			out := berthtest.RunEnv(t, env, helm, "push", tgz, "oci://"+b.Addr+"/charts", "--plain-http")
			pushed := regexp.MustCompile(`Digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
			if pushed == nil || !strings.Contains(out, b.Addr+"/charts/mychart:0.1.0") {
				t.Fatalf("helm push output lacks ref or digest:\n%s", out)
			}

			// The registry holds a Helm OCI manifest whose chart layer is
			// the packaged .tgz.
			resp, raw := getManifest(t, b, "GET", "charts/mychart", "0.1.0")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != pushed[1] || digestOf(raw) != pushed[1] {
				t.Fatalf("GET chart manifest = %d digest %q, want %s\n%s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), pushed[1], raw)
			}
			m := parseManifest(t, raw)
			if m.Config.MediaType != "application/vnd.cncf.helm.config.v1+json" {
				t.Errorf("chart config mediaType = %q", m.Config.MediaType)
			}
			var chartLayer *descriptor
			for i, l := range m.Layers {
				if l.MediaType == "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
					chartLayer = &m.Layers[i]
				}
			}
			if chartLayer == nil || chartLayer.Digest != fileDigest(t, tgz) {
				t.Errorf("chart layer = %+v, want digest %s\n%s", chartLayer, fileDigest(t, tgz), raw)
			}

			// helm pull -d wants an existing directory.
			if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
				t.Fatal(err)
			}
			out = berthtest.RunEnv(t, env, helm, "pull", "oci://"+b.Addr+"/charts/mychart", "--version", "0.1.0", "--plain-http", "-d", filepath.Join(dir, "out"))
			if !strings.Contains(out, pushed[1]) {
				t.Errorf("helm pull reported a different digest than push (%s):\n%s", pushed[1], out)
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, "out", "mychart-0.1.0.tgz")), readFile(t, tgz)) {
				t.Error("pulled mychart-0.1.0.tgz differs from the packaged chart")
			}

			show := berthtest.RunEnv(t, env, helm, "show", "chart", "oci://"+b.Addr+"/charts/mychart", "--version", "0.1.0", "--plain-http")
			if !strings.Contains(show, "name: mychart") || !strings.Contains(show, "version: 0.1.0") {
				t.Errorf("helm show chart:\n%s", show)
			}
			// An unknown version is an error, not an empty success.
			if out, err := berthtest.RunEnvErr(t, env, helm, "pull", "oci://"+b.Addr+"/charts/mychart", "--version", "9.9.9", "--plain-http", "-d", filepath.Join(dir, "out")); err == nil {
				t.Errorf("helm pull of a missing version succeeded:\n%s", out)
			}
		})
	}
}

// TestSkopeoOCILayoutRoundTrip copies an OCI image registry -> OCI layout ->
// another repository -> second layout with skopeo and checks the manifest
// digest survives every hop.
func TestSkopeoOCILayoutRoundTrip(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			skopeo := berthtest.Tool(t, "skopeo")
			crane := berthtest.Tool(t, "crane")
			dir := t.TempDir()
			policy := filepath.Join(dir, "policy.json")
			authfile := filepath.Join(dir, "auth.json")
			writeFile(t, policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`))
			writeFile(t, authfile, []byte(`{"auths":{}}`))
			sk := func(args ...string) string {
				t.Helper()
				return berthtest.Run(t, skopeo, append([]string{"--policy", policy}, args...)...)
			}
			// skopeo keeps its own credentials: log in through berth's token flow.
			if out := berthtest.Run(t, skopeo, "login", "--authfile", authfile, "--tls-verify=false",
				"-u", "admin", "-p", b.AdminPassword, b.Addr); !strings.Contains(out, "Login Succeeded") {
				t.Fatalf("skopeo login: %s", out)
			}

			writeTar(t, filepath.Join(dir, "a.tar"), map[string][]byte{"etc/motd": []byte("skopeo was here\n")})
			writeTar(t, filepath.Join(dir, "b.tar"), map[string][]byte{"blob": randomBytes(t, 1<<20)})
			// OCI media types, so no conversion is needed on the way into a
			// layout and the digest can be preserved end to end.
			orig := craneAppend(t, b.Addr+"/library/app:v1", []string{"--oci-empty-base"}, filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar"))
			origRaw := berthtest.Output(t, crane, "manifest", b.Addr+"/library/app:v1", "--insecure")
			if parseManifest(t, []byte(origRaw)).MediaType != mtOCIManifest {
				t.Fatalf("crane --oci-empty-base pushed a non-OCI manifest:\n%s", origRaw)
			}

			lay1, lay2 := filepath.Join(dir, "lay1"), filepath.Join(dir, "lay2")
			sk("copy", "--preserve-digests", "--authfile", authfile, "--src-tls-verify=false",
				"docker://"+b.Addr+"/library/app:v1", "oci:"+lay1+":v1")
			sk("copy", "--preserve-digests", "--authfile", authfile, "--dest-tls-verify=false",
				"oci:"+lay1+":v1", "docker://"+b.Addr+"/library/fromlayout:v1")
			sk("copy", "--preserve-digests", "--authfile", authfile, "--src-tls-verify=false",
				"docker://"+b.Addr+"/library/fromlayout:v1", "oci:"+lay2+":v1")

			for _, lay := range []string{lay1, lay2} {
				if got := layoutDigest(t, lay, "v1"); got != orig {
					t.Errorf("%s: v1 = %s, want %s", filepath.Base(lay), got, orig)
				}
			}
			if got := craneDigest(t, b.Addr+"/library/fromlayout:v1"); got != orig {
				t.Errorf("fromlayout:v1 = %s, want %s", got, orig)
			}
			raw := berthtest.Output(t, skopeo, "inspect", "--raw", "--tls-verify=false", "--authfile", authfile, "docker://"+b.Addr+"/library/fromlayout:v1")
			if raw != origRaw {
				t.Errorf("skopeo inspect --raw fromlayout:v1 differs from the original manifest:\n%s\n%s", raw, origRaw)
			}

			// Every blob made it through both layouts intact.
			m := parseManifest(t, []byte(origRaw))
			for _, d := range append([]descriptor{{Digest: orig}, m.Config}, m.Layers...) {
				name := strings.TrimPrefix(d.Digest, "sha256:")
				b1 := readFile(t, filepath.Join(lay1, "blobs", "sha256", name))
				b2 := readFile(t, filepath.Join(lay2, "blobs", "sha256", name))
				if digestOf(b1) != d.Digest || !bytes.Equal(b1, b2) {
					t.Errorf("blob %s differs between layouts or from its digest", d.Digest)
				}
			}

			var info struct {
				Digest   string
				RepoTags []string
				Layers   []string
			}
			out := berthtest.Output(t, skopeo, "inspect", "--tls-verify=false", "--authfile", authfile, "docker://"+b.Addr+"/library/fromlayout:v1")
			if err := json.Unmarshal([]byte(out), &info); err != nil {
				t.Fatalf("skopeo inspect: %v\n%s", err, out)
			}
			wantLayers := []string{m.Layers[0].Digest, m.Layers[1].Digest}
			if info.Digest != orig || !slices.Equal(info.RepoTags, []string{"v1"}) || !slices.Equal(info.Layers, wantLayers) {
				t.Errorf("skopeo inspect = digest %s tags %q layers %q; want %s [v1] %q", info.Digest, info.RepoTags, info.Layers, orig, wantLayers)
			}
		})
	}
}

// layoutDigest is the manifest digest an OCI layout's index.json records
// for tag.
func layoutDigest(t *testing.T, layout, tag string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx := parseManifest(t, data)
	for _, d := range idx.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == tag {
			return d.Digest
		}
	}
	t.Fatalf("%s/index.json has no %q:\n%s", layout, tag, data)
	return ""
}
