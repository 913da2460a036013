package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	distauth "github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// referrersPath matches /v2/<name>/referrers/<digest>.
var referrersPath = regexp.MustCompile(`^/v2/(` + reference.NameRegexp.String() + `)/referrers/([^/]+)$`)

const referrersPageSize = 1000

// serveReferrers answers the OCI 1.1 referrers API from the index: an image
// index of the manifests whose subject is the digest, filtered by
// artifactType when asked, paginated with Link beyond a page.
func (s *Server) serveReferrers(w http.ResponseWriter, r *http.Request, name, dgst string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeOCIError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "referrers are read with GET")
		return
	}
	if s.controller != nil {
		_, err := s.controller.Authorized(r, distauth.Access{Resource: distauth.Resource{Type: "repository", Name: name}, Action: "pull"})
		var ch distauth.Challenge
		if errors.As(err, &ch) {
			ch.SetHeaders(r, w)
			writeOCIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		} else if err != nil {
			writeOCIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try again later")
			return
		}
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		writeOCIError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest "+dgst)
		return
	}
	artifactType := r.URL.Query().Get("artifactType")
	last := r.URL.Query().Get("last")
	var refs []metadata.Artifact
	repo, err := s.db.GetRepository(r.Context(), name)
	if err == nil {
		refs, err = s.db.Referrers(r.Context(), repo.ID, d.String(), artifactType, last, referrersPageSize+1)
	}
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		s.log.ErrorContext(r.Context(), "referrers", "repository", name, "err", err)
		writeOCIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "metadata database unavailable, try again later")
		return
	}
	if len(refs) > referrersPageSize {
		refs = refs[:referrersPageSize]
		q := url.Values{"last": {refs[len(refs)-1].Digest}}
		if artifactType != "" {
			q.Set("artifactType", artifactType)
		}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
	}
	descs := make([]v1.Descriptor, 0, len(refs))
	for _, a := range refs {
		at := a.ArtifactType
		if at == "" {
			at = a.ConfigMediaType
		}
		descs = append(descs, v1.Descriptor{
			MediaType: a.MediaType, Digest: digest.Digest(a.Digest), Size: a.ManifestSize,
			ArtifactType: at, Annotations: nonEmpty(a.Annotations),
		})
	}
	body, _ := json.Marshal(v1.Index{
		Versioned: specsVersioned, MediaType: v1.MediaTypeImageIndex, Manifests: descs,
	})
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", v1.MediaTypeImageIndex)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
