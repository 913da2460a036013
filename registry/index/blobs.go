package index

import (
	"context"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// blobCommitted records a blob an upload or a mount just linked into repo
// (desc names it by its canonical digest): in use now, linked by repo, its
// link and data reviewed by garbage collection gc.delay from now. Every
// path that commits a blob calls it before it answers. When a collector
// had deleted the blob's data, the data must be there again (the upload
// wrote it); if a collector removed it after the commit found it present,
// the client is told to upload it again.
func (ix *Indexer) blobCommitted(ctx context.Context, repo string, desc v1.Descriptor) error {
	wasDeleted, err := ix.db.LinkBlob(ctx, repo, metadata.Blob{Digest: desc.Digest.String(), Size: desc.Size, MediaType: desc.MediaType})
	if err != nil {
		return ix.dbError(ctx, err)
	}
	if !wasDeleted {
		return nil
	}
	path, err := blobDataPath(desc.Digest)
	if err != nil {
		return err
	}
	if _, err := ix.storageDriver().Stat(ctx, path); err != nil {
		if IsPathNotFound(err) {
			return errcode.ErrorCodeBlobUploadInvalid.WithMessage("garbage collection removed this blob while it was being uploaded: upload it again")
		}
		return err
	}
	return nil
}
