package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// multipartSlack is room for the multipart framing around the files.
const multipartSlack = 64 << 10

// upload: POST /api/chartrepo/{project}/charts — multipart field "chart"
// (the .tgz) and optional "prov"; ?force=true replaces an existing version.
func (a *api) upload(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	lim := a.svc.limits
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxArchiveSize+maxProvSize+multipartSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		return dialect.Invalidf("the upload must be multipart/form-data with the chart in the field \"chart\": %v", err)
	}
	var chart *spooled
	defer func() { chart.remove() }()
	var prov []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bodyErr(err, lim)
		}
		switch part.FormName() {
		case "chart":
			if chart != nil {
				return dialect.Invalidf("more than one \"chart\" field")
			}
			if chart, err = spool(part, lim.MaxArchiveSize); err != nil {
				return bodyErr(err, lim)
			}
		case "prov":
			if prov, err = io.ReadAll(io.LimitReader(part, maxProvSize+1)); err != nil {
				return bodyErr(err, lim)
			}
			if len(prov) > maxProvSize {
				return domain.Errorf(errTooLarge, "the provenance file is over %d bytes", maxProvSize)
			}
		default:
			_, _ = io.Copy(io.Discard, part)
		}
	}
	if chart == nil {
		return dialect.Invalidf("the upload has no \"chart\" field")
	}
	ctx := domain.WithPusher(r.Context(), dialect.Caller(r).Name)
	m, err := a.svc.Upload(ctx, proj, chart, prov, r.URL.Query().Get("force") == "true")
	if err != nil {
		return err
	}
	ev := dialect.Subject(r)
	ev.Target, ev.Tag = m.Name, m.Version
	a.JSON(w, http.StatusCreated, map[string]bool{"saved": true})
	return nil
}

func bodyErr(err error, lim Limits) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return domain.Errorf(errTooLarge, "the upload is over %d bytes", mbe.Limit)
	case errors.Is(err, errSpoolTooLarge):
		return domain.Errorf(errTooLarge, "the chart archive is over the %d-byte limit", lim.MaxArchiveSize)
	}
	return dialect.Invalidf("the upload is not a readable multipart body: %v", err)
}

var errSpoolTooLarge = errors.New("archive over the limit")

// spooled is an uploaded archive in a temporary file, with its digest.
type spooled struct {
	f      *os.File
	size   int64
	digest digest.Digest
}

// spool copies at most limit bytes of r into a temporary file, hashing
// them: an upload is validated in full before anything is stored, without
// holding it in memory.
func spool(r io.Reader, limit int64) (*spooled, error) {
	f, err := os.CreateTemp("", "berth-chart-*.tgz")
	if err != nil {
		return nil, err
	}
	s := &spooled{f: f}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = errSpoolTooLarge
	}
	if err != nil {
		s.remove()
		return nil, err
	}
	s.size, s.digest = n, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	return s, nil
}

func (s *spooled) reader() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.f, nil
}

func (s *spooled) remove() {
	if s != nil && s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

// Upload validates a chart archive (and provenance file) and stores it as
// the OCI artifact <project>/<name>:<version> through the registry, with
// the config and manifest `helm push` writes.
func (s *Service) Upload(ctx context.Context, proj domain.Project, chart *spooled, prov []byte, force bool) (*Metadata, error) {
	rd, err := chart.reader()
	if err != nil {
		return nil, err
	}
	m, err := inspectArchive(rd, s.limits)
	if err != nil {
		return nil, err
	}
	if prov != nil {
		if err := checkProv(prov, m, chart.digest); err != nil {
			return nil, err
		}
	}
	// Uploads of one version take turns, so two of them cannot both find
	// it missing and both store it (the second gets 409). Across replicas
	// the check is not atomic: the later push then wins the tag.
	defer s.uploads.lock(proj.Name + "/" + m.Name + "@" + m.Version)()
	existing, err := s.versions(ctx, proj.ID, m.Name, m.Version, false)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 && !force {
		return nil, domain.Errorf(domain.ErrAlreadyExists, "chart %s version %s already exists in project %s (add ?force=true to replace it)", m.Name, m.Version, proj.Name)
	}
	repo := proj.Name + "/" + m.Name
	cfg, err := m.configJSON()
	if err != nil {
		return nil, err
	}
	cfgDesc := v1.Descriptor{MediaType: domain.HelmConfigMediaType, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := s.dom.PushBlob(ctx, repo, cfgDesc, bytes.NewReader(cfg)); err != nil {
		return nil, err
	}
	layers := []v1.Descriptor{{MediaType: domain.HelmChartMediaType, Digest: chart.digest, Size: chart.size}}
	if rd, err = chart.reader(); err != nil {
		return nil, err
	}
	if err := s.dom.PushBlob(ctx, repo, layers[0], rd); err != nil {
		return nil, err
	}
	if prov != nil {
		pd := v1.Descriptor{MediaType: domain.HelmProvenanceMediaType, Digest: digest.FromBytes(prov), Size: int64(len(prov))}
		if err := s.dom.PushBlob(ctx, repo, pd, bytes.NewReader(prov)); err != nil {
			return nil, err
		}
		layers = append(layers, pd)
	}
	man, err := json.Marshal(v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: cfgDesc, Layers: layers, Annotations: m.annotations(time.Now())})
	if err != nil {
		return nil, err
	}
	d, err := s.dom.PutManifest(ctx, repo, domain.ChartTag(m.Version), v1.MediaTypeImageManifest, man)
	if err != nil {
		return nil, err
	}
	for _, old := range existing {
		if old.Digest != d { // replaced by force: the old manifest has no tag left
			if err := s.deleteArtifact(ctx, repo, old.Digest); err != nil && !errors.Is(err, domain.ErrNotFound) {
				s.log.WarnContext(ctx, "charts: removing the replaced version", "repository", repo, "digest", old.Digest, "err", err)
			}
		}
	}
	return m, nil
}

// deleteArtifact deletes one manifest of repo.
func (s *Service) deleteArtifact(ctx context.Context, repo, d string) error {
	r, err := s.dom.Repository(ctx, repo)
	if err != nil {
		return err
	}
	return r.DeleteArtifact(ctx, d)
}

// checkProv accepts a provenance file only when it is a clear-signed
// document naming this archive with its digest, as `helm package --sign`
// writes it.
func checkProv(prov []byte, m *Metadata, d digest.Digest) error {
	text := string(prov)
	if !strings.HasPrefix(strings.TrimSpace(text), "-----BEGIN PGP SIGNED MESSAGE-----") || !strings.Contains(text, "-----BEGIN PGP SIGNATURE-----") {
		return dialect.Invalidf("the provenance file is not a PGP clear-signed document")
	}
	want := fmt.Sprintf("%s-%s.tgz: %s", m.Name, m.Version, d.String())
	if !strings.Contains(text, want) {
		return dialect.Invalidf("the provenance file does not sign this archive (want %q in its files)", want)
	}
	return nil
}
