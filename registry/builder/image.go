package builder

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageRef is a FROM reference resolved against berth: a repository in
// berth's own store (local), or an image on another registry.
type imageRef struct {
	local bool
	repo  string // local: project/path
	ref   string // local: tag or digest reference part (":tag" or "@sha256:...")
	full  string // remote: the reference as written
}

// splitRef reads a FROM image: project/repo[:tag|@digest], optionally
// behind one of berth's own hosts; a single name means library/<name>.
func splitRef(ref string, ownHosts []string) (imageRef, error) {
	first, rest, hasSlash := strings.Cut(ref, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		for _, h := range ownHosts {
			if strings.EqualFold(first, h) {
				return splitRef(rest, nil)
			}
		}
		return imageRef{full: ref}, nil
	}
	repo, suffix := ref, ":latest"
	if i := strings.Index(ref, "@"); i >= 0 {
		repo, suffix = ref[:i], ref[i:]
	} else if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, suffix = ref[:i], ref[i:]
	}
	if !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	if _, err := name.ParseReference("berth.invalid/"+repo+suffix, name.StrictValidation); err != nil {
		return imageRef{}, fmt.Errorf("not an image reference: %v", err)
	}
	return imageRef{local: true, repo: repo, ref: suffix}, nil
}

// registry pulls and pushes for one build as its operator.
type registry struct {
	s      *Service
	op     Operator
	pulled []string // local repositories read, for cross-repository mounts
}

// From resolves a FROM image to its ggcr image and config.
func (r *registry) From(ctx context.Context, ref string) (base, error) {
	if ref == "scratch" {
		img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		return base{ref: ref, image: img}, nil
	}
	addr, hosts := r.s.endpoint()
	ir, err := splitRef(ref, hosts)
	if err != nil {
		return base{}, err
	}
	var img v1.Image
	if ir.local {
		tok, err := r.s.creds.RegistryToken(ctx, r.op, []string{ir.repo}, nil)
		if err != nil {
			return base{}, err
		}
		nref, err := name.ParseReference(addr+"/"+ir.repo+ir.ref, name.Insecure)
		if err != nil {
			return base{}, err
		}
		img, err = remote.Image(nref, remote.WithContext(ctx), remote.WithAuth(&authn.Bearer{Token: tok}), remote.WithTransport(loopbackTransport()))
		if err != nil {
			return base{}, fmt.Errorf("not found in berth or not readable by %s: %v", r.op.Name, err)
		}
		r.pulled = append(r.pulled, ir.repo)
	} else {
		if !r.s.cfg.RemotePulls {
			return base{}, fmt.Errorf("image on another registry: remote pulls are off (set imagebuild.remotePulls to allow them); name images in berth as project/repo:tag")
		}
		nref, err := name.ParseReference(ir.full)
		if err != nil {
			return base{}, err
		}
		// Through the download address policy (imagebuild.fetchAllow), on
		// the address actually dialled: a FROM naming an internal service
		// connects nowhere.
		if img, err = remote.Image(nref, remote.WithContext(ctx), remote.WithTransport(r.s.fetch.client.Transport)); err != nil {
			return base{}, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return base{}, fmt.Errorf("reading its config: %v", err)
	}
	return base{ref: ref, config: cf, image: img}, nil
}

// assemble applies a plan to its base image: a new layer per copy, then
// the config (history, environment, entrypoint, ...).
func (s *Service) assemble(ctx context.Context, p *plan, dir, tmp string, logf func(string, ...any)) (v1.Image, error) {
	img := p.base.image.(v1.Image)
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	history := append([]v1.History{}, cf.History...)
	for i, st := range p.steps {
		history = append(history, st.history)
		if st.copy == nil {
			continue
		}
		path := fmt.Sprintf("%s/layer-%d.tar", tmp, i)
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		n, err := writeLayer(ctx, st.copy, dir, tmp, s.fetch, s.cfg.MaxContextBytes, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.history.CreatedBy, err)
		}
		layer, err := tarball.LayerFromFile(path, tarball.WithMediaType(layerType))
		if err != nil {
			return nil, err
		}
		diff, err := layer.DiffID()
		if err != nil {
			return nil, err
		}
		logf("%s: new layer of %d entries, diff_id %s", st.history.CreatedBy, n, diff)
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: st.history, MediaType: layerType}); err != nil {
			return nil, err
		}
	}
	if cf, err = img.ConfigFile(); err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config, cf.Author, cf.History = p.config, p.author, history
	cf.Created = v1.Time{Time: time.Now().UTC()}
	if cf.OS == "" {
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
	}
	return mutate.ConfigFile(img, cf)
}

// push writes the image to berth as the operator and returns its digest.
func (s *Service) push(ctx context.Context, img v1.Image, repo, tag string, reg *registry, logf func(string, ...any)) (string, error) {
	addr, _ := s.endpoint()
	tok, err := s.creds.RegistryToken(ctx, reg.op, reg.pulled, []string{repo})
	if err != nil {
		return "", err
	}
	ref, err := name.ParseReference(addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", err
	}
	logf("pushing %s/%s:%s as %s", s.publicHost(), repo, tag, reg.op.Name)
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(&authn.Bearer{Token: tok}), remote.WithTransport(loopbackTransport())); err != nil {
		return "", fmt.Errorf("push %s:%s: %v", repo, tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// loopbackTransport talks to berth itself: its certificate names the
// public host, not the loopback address, so it is not verified.
func loopbackTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // berth's own listener on loopback
	return t
}

// loopback turns a listen address into one a local client can dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
