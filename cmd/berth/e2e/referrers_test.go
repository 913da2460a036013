package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage/metadata"
)

// An SBOM and a signature attached with oras show up in oras discover,
// regctl artifact list and the referrers API (filtered by artifactType);
// deleting the image takes its referrers along and leaves no drift.
func TestReferrersWithOrasAndRegctl(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			oras, regctl, crane := berthtest.Tool(t, "oras"), berthtest.Tool(t, "regctl"), berthtest.Tool(t, "crane")
			ref := b.Addr + "/library/signed:v1"
			subject := pushSmallImage(t, ref)

			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`))
			writeFile(t, filepath.Join(dir, "sig.txt"), []byte("signature bytes"))
			attach := func(artifactType, file string) string {
				out := berthtest.RunIn(t, dir, nil, oras, "attach", "--plain-http", "--artifact-type", artifactType, ref, file, "--format", "json")
				var res struct{ Digest string }
				if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res); err != nil || res.Digest == "" {
					t.Fatalf("oras attach: %v\n%s", err, out)
				}
				return res.Digest
			}
			sbom := attach("application/spdx+json", "sbom.json:application/spdx+json")
			sig := attach("application/vnd.dev.cosign.artifact.sig.v1+json", "sig.txt")

			out := berthtest.Run(t, oras, "discover", "--plain-http", ref, "--format", "json")
			for _, d := range []string{sbom, sig} {
				if !strings.Contains(out, d) {
					t.Errorf("oras discover misses %s:\n%s", d, out)
				}
			}
			berthtest.Run(t, regctl, "registry", "set", b.Addr, "--tls", "disabled")
			out = berthtest.Run(t, regctl, "artifact", "list", ref, "--format", "{{json .}}")
			for _, d := range []string{sbom, sig} {
				if !strings.Contains(out, d) {
					t.Errorf("regctl artifact list misses %s:\n%s", d, out)
				}
			}

			resp, body := httpDo(t, http.MethodGet, b.URL("/v2/library/signed/referrers/"+subject+"?artifactType=application/spdx%2Bjson"), nil)
			var idx struct {
				MediaType string
				Manifests []struct {
					Digest, ArtifactType, MediaType string
					Size                            int64
				}
			}
			if err := json.Unmarshal(body, &idx); err != nil || resp.StatusCode != 200 {
				t.Fatalf("referrers: %d %s", resp.StatusCode, body)
			}
			if resp.Header.Get("OCI-Filters-Applied") != "artifactType" || len(idx.Manifests) != 1 ||
				idx.Manifests[0].Digest != sbom || idx.Manifests[0].ArtifactType != "application/spdx+json" || idx.Manifests[0].Size == 0 {
				t.Errorf("filtered referrers: %s %s", resp.Header.Get("OCI-Filters-Applied"), body)
			}
			_, body = httpDo(t, http.MethodGet, b.URL("/v2/library/signed/referrers/sha256:"+strings.Repeat("0", 64)), nil)
			if !strings.Contains(string(body), `"manifests":[]`) {
				t.Errorf("referrers of an unknown digest: %s", body)
			}

			berthtest.Run(t, crane, "delete", "--insecure", b.Addr+"/library/signed@"+subject)
			for _, d := range []string{sbom, sig} {
				if code, _ := getManifest(t, b, http.MethodHead, "library/signed", d); code.StatusCode != http.StatusNotFound {
					t.Errorf("referrer %s survived its subject: %d", d, code.StatusCode)
				}
			}
			db := openIndex(t, b)
			// Deleting the last artifact removes the repository itself (as
			// Harbor does); a repository left behind must at least be empty.
			repo, err := db.GetRepository(context.Background(), "library/signed")
			switch {
			case errors.Is(err, metadata.ErrNotFound):
			case err != nil:
				t.Fatal(err)
			default:
				if arts, total, _ := db.ListArtifacts(context.Background(), repo.ID, metadata.ListOptions{}); total != 0 {
					t.Errorf("index still lists %d artifacts: %+v", total, arts)
				}
			}
			db.Close()
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(berthtest.Binary(t), "check", "--data-dir", b.DataDir)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, b.Env()...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("berth check after deleting the subject: %v\n%s", err, out)
			}
		})
	}
}
