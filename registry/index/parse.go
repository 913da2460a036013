// Package index keeps berth's metadata index in step with blob storage: a
// distribution registry middleware records every manifest put/delete and
// tag/untag, whatever path they come from, before the response is sent;
// reads of lists (/v2/_catalog, tags/list) are answered from the index; pulls
// are counted in batches; Reindex and Check rebuild and verify the index.
package index

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// maxConfigBytes bounds how much of an image config is read to index it.
const maxConfigBytes = 4 << 20

// rawManifest covers the fields berth indexes of every manifest kind: OCI and
// Docker image manifests, OCI indexes and Docker manifest lists, artifacts.
type rawManifest struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Layers       []v1.Descriptor   `json:"layers"`
	Manifests    []v1.Descriptor   `json:"manifests"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// imageConfig is the part of an image config berth shows.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant"`
	Author       string `json:"author"`
	Created      string `json:"created"`
}

var imageConfigTypes = map[string]bool{
	v1.MediaTypeImageConfig:                          true,
	"application/vnd.docker.container.image.v1+json": true,
}

// Describe turns a stored manifest into an artifact record. blobs reads the
// image config (small) for its platform, author and creation time.
func Describe(ctx context.Context, dgst digest.Digest, m distribution.Manifest, blobs distribution.BlobProvider) (metadata.Artifact, error) {
	mt, payload, err := m.Payload()
	if err != nil {
		return metadata.Artifact{}, fmt.Errorf("index: manifest payload: %w", err)
	}
	return DescribePayload(ctx, dgst, mt, payload, blobs)
}

// DescribePayload is Describe for raw manifest bytes.
func DescribePayload(ctx context.Context, dgst digest.Digest, mediaType string, payload []byte, blobs distribution.BlobProvider) (metadata.Artifact, error) {
	var raw rawManifest
	if err := json.Unmarshal(payload, &raw); err != nil {
		return metadata.Artifact{}, fmt.Errorf("index: manifest %s: %w", dgst, err)
	}
	if raw.MediaType == "" {
		raw.MediaType = mediaType
	}
	a := metadata.Artifact{
		Digest:        dgst.String(),
		MediaType:     raw.MediaType,
		ArtifactType:  raw.ArtifactType,
		ManifestSize:  int64(len(payload)),
		Manifest:      payload,
		Annotations:   raw.Annotations,
		Blobs:         []metadata.Blob{{Digest: dgst.String(), Size: int64(len(payload)), MediaType: raw.MediaType}},
		SubjectDigest: "",
	}
	if raw.Subject != nil {
		a.SubjectDigest = raw.Subject.Digest.String()
	}
	if raw.Config != nil {
		a.ConfigMediaType = raw.Config.MediaType
		a.ConfigDigest = raw.Config.Digest.String()
		a.Blobs = append(a.Blobs, metadata.Blob{Digest: a.ConfigDigest, Size: raw.Config.Size, MediaType: raw.Config.MediaType})
		if a.ArtifactType == "" && !imageConfigTypes[raw.Config.MediaType] && raw.Config.MediaType != v1.MediaTypeEmptyJSON {
			a.ArtifactType = raw.Config.MediaType
		}
		if imageConfigTypes[raw.Config.MediaType] && blobs != nil {
			if cfg, err := readConfig(ctx, blobs, raw.Config.Digest); err == nil {
				a.OS, a.Arch, a.Variant = cfg.OS, cfg.Architecture, cfg.Variant
				a.Extra = map[string]any{"architecture": cfg.Architecture, "os": cfg.OS, "author": cfg.Author, "created": cfg.Created}
			}
		}
	}
	for _, l := range raw.Layers {
		if len(l.URLs) > 0 {
			continue // a foreign layer lives elsewhere: berth stores nothing of it
		}
		a.Blobs = append(a.Blobs, metadata.Blob{Digest: l.Digest.String(), Size: l.Size, MediaType: l.MediaType})
	}
	for _, child := range raw.Manifests {
		ref := metadata.Reference{ChildDigest: child.Digest.String(), MediaType: child.MediaType, Size: child.Size, Annotations: child.Annotations}
		if p := child.Platform; p != nil {
			ref.OS, ref.Arch, ref.Variant = p.OS, p.Architecture, p.Variant
		}
		a.References = append(a.References, ref)
	}
	return a, nil
}

func readConfig(ctx context.Context, blobs distribution.BlobProvider, d digest.Digest) (imageConfig, error) {
	var cfg imageConfig
	rc, err := blobs.Open(ctx, d)
	if err != nil {
		return cfg, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxConfigBytes))
	if err != nil {
		return cfg, err
	}
	err = json.Unmarshal(b, &cfg)
	return cfg, err
}

// IsIndex reports whether a media type is an image index or manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == v1.MediaTypeImageIndex || strings.HasSuffix(mediaType, "manifest.list.v2+json")
}
