package registry

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/index"
)

// maxManifestBytes is distribution's own limit on a manifest body.
const maxManifestBytes = 4 << 20

// aliasManifestPut prepares a manifest put by a digest of another algorithm
// than sha256 (sha512), which distribution refuses: berth checks the body
// against the digest, hands distribution the put by the body's sha256
// digest, and the index middleware links the manifest under the alias too
// (see index.WithManifestAlias). The answer names the alias. Any other
// request is returned unchanged; a nil request means it was answered here.
func (s *Server) aliasManifestPut(w http.ResponseWriter, r *http.Request, repo, ref string) (http.ResponseWriter, *http.Request) {
	alias, err := digest.Parse(ref)
	if r.Method != http.MethodPut || err != nil || !index.IsAlias(alias) {
		return w, r
	}
	if s.challenged(w, r, repo) {
		return w, nil
	}
	if !alias.Algorithm().Available() {
		writeOCIError(w, http.StatusBadRequest, "DIGEST_INVALID", "unsupported digest algorithm "+alias.Algorithm().String())
		return w, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		writeOCIError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: "+err.Error())
		return w, nil
	}
	if len(body) > maxManifestBytes {
		writeOCIError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", fmt.Sprintf("a manifest may not exceed %d bytes", maxManifestBytes))
		return w, nil
	}
	if alias.Algorithm().FromBytes(body) != alias {
		writeOCIError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
		return w, nil
	}
	canonical := digest.Canonical.FromBytes(body)
	r = r.Clone(index.WithManifestAlias(r.Context(), alias))
	r.URL.Path = strings.TrimSuffix(r.URL.Path, ref) + canonical.String()
	r.URL.RawPath = ""
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return &aliasHeaders{ResponseWriter: w, swap: strings.NewReplacer(canonical.String(), alias.String())}, r
}

// aliasHeaders names the alias instead of the sha256 digest in the
// Location and Docker-Content-Digest of an answer.
type aliasHeaders struct {
	http.ResponseWriter
	swap *strings.Replacer
	done bool
}

func (w *aliasHeaders) rewrite() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	for _, k := range []string{"Location", "Docker-Content-Digest"} {
		if v := h.Get(k); v != "" {
			h.Set(k, w.swap.Replace(v))
		}
	}
}

func (w *aliasHeaders) WriteHeader(code int) { w.rewrite(); w.ResponseWriter.WriteHeader(code) }

func (w *aliasHeaders) Write(b []byte) (int, error) { w.rewrite(); return w.ResponseWriter.Write(b) }

func (w *aliasHeaders) Unwrap() http.ResponseWriter { return w.ResponseWriter }
