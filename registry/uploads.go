package registry

import (
	"context"
	"net/http"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/upload"
)

// newUploads is berth's push path for the configured storage (see
// storage/upload); nil leaves uploads to distribution's blob writer.
func newUploads(_ context.Context, c *storage.Config, driver storagedriver.StorageDriver) (*upload.Store, error) {
	switch c.Driver {
	case storage.DriverFilesystem:
		return upload.NewFilesystem(driver, upload.FilesystemOptions{
			RootDirectory: c.Filesystem.RootDirectory, Buffered: !c.Filesystem.DirectWrites,
		}), nil
	case storage.DriverS3:
		client, err := c.S3.Client()
		if err != nil {
			return nil, err
		}
		return upload.NewS3(driver, upload.S3Options{
			Client: client, Bucket: c.S3.Bucket, KeyPrefix: c.S3.KeyPrefix(),
			PartSize: c.S3.ChunkSize, Timeout: c.Timeout,
		}), nil
	}
	return nil, nil
}

// withUploadHint tells the upload a PATCH or PUT resumes what the request
// carries before its body is read: the digest a PUT names and the body's length (-1: chunked).
func withUploadHint(r *http.Request) *http.Request {
	h := upload.Hint{Length: r.ContentLength}
	if r.Method == http.MethodPut {
		if d, err := digest.Parse(r.URL.Query().Get("digest")); err == nil {
			h.Digest = d
		}
	}
	return r.WithContext(upload.WithHint(r.Context(), h))
}
