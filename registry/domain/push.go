package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-registry/berth/registry/index"
	"github.com/distribution/distribution/v3"
	_ "github.com/distribution/distribution/v3/manifest/ocischema" // registers the OCI manifest kind
	"github.com/distribution/distribution/v3/registry/api/errcode"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/upload"
)

// pusherKey is the context key distribution puts the authenticated user
// under; the index records it as who pushed.
const pusherKey = "auth.user.name"

// WithPusher names the user a push made through the domain is recorded
// for, as distribution does for a client's push.
func WithPusher(ctx context.Context, user string) context.Context {
	//lint:ignore SA1029 distribution reads the user under its own string key
	return context.WithValue(ctx, pusherKey, user)
}

// PushBlob stores a blob of known digest and size in repo through
// distribution, streaming r (nothing is read whole). A blob the repository
// already holds is not written again.
func (s *Service) PushBlob(ctx context.Context, repo string, desc v1.Descriptor, r io.Reader) error {
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return err
	}
	if err := s.ix.CheckPush(ctx, repo); err != nil {
		return translate(err, "repository "+repo)
	}
	bs := dr.Blobs(ctx)
	if got, err := bs.Stat(ctx, desc.Digest); err == nil && got.Size == desc.Size {
		return nil
	}
	// The digest and size are known up front: on S3 the blob streams
	// straight to its own key.
	hint := upload.Hint{Digest: desc.Digest, Length: desc.Size}
	if hint.Length <= 0 {
		hint.Length = -1
	}
	bw, err := bs.Create(upload.WithHint(ctx, hint))
	if err != nil {
		return fmt.Errorf("domain: blob upload in %s: %w", repo, err)
	}
	if _, err := io.Copy(bw, r); err != nil {
		_ = bw.Cancel(ctx)
		return fmt.Errorf("domain: blob upload in %s: %w", repo, err)
	}
	if _, err := bw.Commit(ctx, desc); err != nil {
		_ = bw.Cancel(ctx)
		var inv distribution.ErrBlobInvalidDigest
		if errors.As(err, &inv) || errors.Is(err, distribution.ErrBlobInvalidLength) {
			return errorf(ErrInvalid, "blob %s: %v", desc.Digest, err)
		}
		return fmt.Errorf("domain: blob commit in %s: %w", repo, err)
	}
	return nil
}

// PutManifest stores a manifest in repo through distribution and tags it,
// exactly as a client's PUT /v2/<repo>/manifests/<tag> would: the index
// middleware records it (quota included).
func (s *Service) PutManifest(ctx context.Context, repo, tag, mediaType string, payload []byte) (string, error) {
	if err := ValidateTag(tag); err != nil {
		return "", err
	}
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return "", err
	}
	m, desc, err := distribution.UnmarshalManifest(mediaType, payload)
	if err != nil {
		return "", errorf(ErrInvalid, "manifest: %v", err)
	}
	ms, err := dr.Manifests(ctx)
	if err != nil {
		return "", err
	}
	ctx = index.WithTagHolder(ctx) // the put tags it; the Tag below then changes nothing
	d, err := ms.Put(ctx, m, distribution.WithTag(tag))
	if err != nil {
		return "", pushError(err, repo)
	}
	if d != desc.Digest {
		desc.Digest = d
	}
	if err := dr.Tags(ctx).Tag(ctx, tag, desc); err != nil {
		return "", fmt.Errorf("domain: tag %s:%s: %w", repo, tag, err)
	}
	return d.String(), nil
}

// pushError maps what distribution and the index refuse a push with.
func pushError(err error, repo string) error {
	var ec errcode.Error
	if errors.As(err, &ec) && ec.Code == errcode.ErrorCodeDenied {
		if strings.Contains(ec.Message, "is immutable") {
			return errorf(ErrDenied, "%s", ec.Message)
		}
		return errorf(ErrQuotaExceeded, "%s", ec.Message)
	}
	var ve distribution.ErrManifestVerification
	if errors.As(err, &ve) {
		return errorf(ErrInvalid, "manifest for %s: %v", repo, err)
	}
	if t := translate(err, "project of "+repo); t != err {
		return t
	}
	return fmt.Errorf("domain: put manifest in %s: %w", repo, err)
}
