package domain

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// Artifacts lists the repository's artifacts with tags and references
// (the children of an index are not listed unless tagged).
func (r *Repo) Artifacts(ctx context.Context, q Query) ([]Artifact, int64, error) {
	as, total, err := r.s.db.ListArtifacts(ctx, r.ID, q.options())
	return convert(as, artifactOf), total, err
}

// Artifact returns an artifact by digest or tag, with tags, references
// and blobs.
func (r *Repo) Artifact(ctx context.Context, ref string) (Artifact, error) {
	a, err := r.artifact(ctx, ref)
	return artifactOf(a), err
}

func (r *Repo) artifact(ctx context.Context, ref string) (metadata.Artifact, error) {
	d, err := r.resolve(ctx, ref)
	if err != nil {
		return metadata.Artifact{}, err
	}
	a, err := r.s.db.GetArtifact(ctx, r.ID, d)
	return a, translate(err, "artifact "+r.Name+"@"+d)
}

// resolve turns a tag or digest into a digest string known to the index.
func (r *Repo) resolve(ctx context.Context, ref string) (string, error) {
	if _, err := digest.Parse(ref); err == nil {
		return ref, nil
	}
	if err := ValidateTag(ref); err != nil {
		return "", err
	}
	t, err := r.s.db.GetTag(ctx, r.ID, ref)
	if err != nil {
		return "", translate(err, "tag "+ref)
	}
	return t.Digest, nil
}

// ArtifactsByDigest returns the repository's artifacts with these
// digests, keyed by digest, in one index query (for a page of a list:
// never one lookup per row). Digests the repository does not hold are
// absent. Tags, references and blobs are not filled.
//
// withManifest also fills Manifest with the manifest's bytes: from the
// index, or, for artifacts indexed before it kept them, from storage,
// after which the index keeps them too. An artifact whose manifest
// storage lacks is an ErrNotFound error, as Manifest has it.
func (r *Repo) ArtifactsByDigest(ctx context.Context, digests []string, withManifest bool) (map[string]Artifact, error) {
	arts, err := r.s.db.ArtifactsByDigests(ctx, r.ID, digests, withManifest)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Artifact, len(arts))
	for d, a := range arts {
		if withManifest && a.Manifest == nil {
			if a.Manifest, err = r.storedManifest(ctx, d); err != nil {
				return nil, err
			}
			if verified(d, a.Manifest) {
				if err := r.s.db.PutManifest(ctx, r.ID, d, a.Manifest); err != nil {
					r.s.log.WarnContext(ctx, "keeping manifest bytes in the index", "repository", r.Name, "digest", d, "err", err)
				}
			}
		}
		out[d] = artifactOf(a)
	}
	return out, nil
}

// Tags lists the repository's tags (filter, sort by name or push time).
func (r *Repo) Tags(ctx context.Context, q Query) ([]Tag, int64, error) {
	ts, total, err := r.s.db.ListTags(ctx, r.ID, q.options())
	return convert(ts, tagOf), total, err
}

// DeleteTag removes one tag; the artifact stays.
func (r *Repo) DeleteTag(ctx context.Context, tag string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	if _, err := r.s.db.GetTag(ctx, r.ID, tag); err != nil {
		return translate(err, "tag "+r.Name+":"+tag)
	}
	dr, err := r.storage(ctx)
	if err != nil {
		return err
	}
	if err := dr.Tags(ctx).Untag(ctx, tag); err != nil && !isUnknown(err) {
		return err
	}
	return nil
}

// SetTagAttrs replaces a tag's per-dialect attributes (such as a
// promotion stage).
func (r *Repo) SetTagAttrs(ctx context.Context, tag string, attrs map[string]string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	return translate(r.s.db.UpdateTagAttrs(ctx, r.ID, tag, attrs), "tag "+r.Name+":"+tag)
}

// RecordDownload counts a download of the manifest digest through a
// dialect, as a /v2 manifest GET is counted: on the artifact, and on the
// tag when it was asked for by tag ("" by digest), so a version counts
// the downloads of its own name, as bk-repo counts them.
func (r *Repo) RecordDownload(digest, tag string) {
	if r.s.downloads != nil {
		r.s.downloads.Record(r.Name, digest, tag)
	}
}
