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
	}
	describeConfig(ctx, &a, blobs)
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

// describeConfig fills in what an artifact's image config tells (platform,
// author, creation time), read through blobs; nothing when blobs is nil, the
// config is not an image config or cannot be read.
func describeConfig(ctx context.Context, a *metadata.Artifact, blobs distribution.BlobProvider) {
	if blobs == nil || a.ConfigDigest == "" || !imageConfigTypes[a.ConfigMediaType] {
		return
	}
	if cfg, err := readConfig(ctx, blobs, digest.Digest(a.ConfigDigest)); err == nil {
		a.OS, a.Arch, a.Variant = cfg.OS, cfg.Architecture, cfg.Variant
		a.Extra = map[string]any{"architecture": cfg.Architecture, "os": cfg.OS, "author": cfg.Author, "created": cfg.Created}
	}
}

// readSmallBlob reads a small blob (a config) whole, refusing one over
// limit bytes. It uses Get, not Open: distribution's Open reads through a
// 4 MiB buffer allocated for each call, which costs more than reading a
// config of a few KiB; its Get reads the file at once and refuses one over
// 4 MiB.
func readSmallBlob(ctx context.Context, blobs distribution.BlobProvider, d digest.Digest, limit int) ([]byte, error) {
	b, err := blobs.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("over %d bytes", limit)
	}
	return b, nil
}

func readConfig(ctx context.Context, blobs distribution.BlobProvider, d digest.Digest) (imageConfig, error) {
	var cfg imageConfig
	b, err := readSmallBlob(ctx, blobs, d, maxConfigBytes)
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
