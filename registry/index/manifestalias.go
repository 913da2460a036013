package index

import (
	"context"
	"errors"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// linkManifestAlias links a manifest just stored under canonical by the
// alias the put named (see WithManifestAlias), when it matches the payload.
func (m *manifests) linkManifestAlias(ctx context.Context, canonical digest.Digest, man distribution.Manifest) error {
	alias, ok := manifestAlias(ctx)
	if !ok {
		return nil
	}
	_, payload, err := man.Payload()
	if err != nil {
		return err
	}
	if alias.Algorithm().FromBytes(payload) != alias {
		return distribution.ErrManifestVerification{errors.New("manifest does not match digest " + alias.String())}
	}
	return m.repo.ix.linkAlias(ctx, m.repo.Named().Name(), metadata.AliasManifest, alias, canonical)
}

// canonicalManifest is the sha256 digest of the manifest linked by dgst.
func (m *manifests) canonicalManifest(ctx context.Context, dgst digest.Digest) (digest.Digest, error) {
	if !IsAlias(dgst) {
		return dgst, nil
	}
	man, err := m.ManifestService.Get(ctx, dgst)
	if err != nil {
		return "", err
	}
	_, payload, err := man.Payload()
	if err != nil {
		return "", err
	}
	return digest.Canonical.FromBytes(payload), nil
}

// manifestAliases lists the digests other than canonical a manifest is
// linked by: those indexed, and asked, the one a delete named.
func (m *manifests) manifestAliases(ctx context.Context, canonical, asked digest.Digest) ([]digest.Digest, error) {
	names, err := m.repo.ix.db.DigestAliases(ctx, m.repo.Named().Name(), metadata.AliasManifest, canonical.String())
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	seen := false
	for _, n := range names {
		out = append(out, digest.Digest(n))
		seen = seen || n == asked.String()
	}
	if asked != canonical && !seen {
		out = append(out, asked)
	}
	return out, nil
}

// unlinkManifestAliases removes the alias links of a deleted manifest and
// their index entries.
func (m *manifests) unlinkManifestAliases(ctx context.Context, canonical digest.Digest, aliases []digest.Digest) error {
	for _, a := range aliases {
		if err := m.ManifestService.Delete(ctx, a); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) && !IsPathNotFound(err) && !isUnknownManifest(err) {
			return err
		}
	}
	return m.repo.ix.db.DeleteDigestAliases(ctx, m.repo.Named().Name(), metadata.AliasManifest, canonical.String())
}
