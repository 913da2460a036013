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
