package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	// The two drivers berth supports register themselves with the factory.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

// DistributionStorage renders the configuration as distribution's storage
// section, with what distribution's YAML parser would otherwise default:
// deletes enabled, upload purging, the blob-descriptor cache and the guard
// middleware is added separately (see GuardMiddleware).
func (c *Config) DistributionStorage(cache string) configuration.Storage {
	st := configuration.Storage{}
	switch c.Driver {
	case DriverFilesystem:
		st["filesystem"] = configuration.Parameters{"rootdirectory": c.Filesystem.RootDirectory}
	case DriverS3:
		st["s3"] = c.S3.parameters()
	}
	st["delete"] = configuration.Parameters{"enabled": true}
	st["redirect"] = configuration.Parameters{"disable": !c.Redirect}
	st["cache"] = configuration.Parameters{"blobdescriptor": cache}
	st["maintenance"] = configuration.Parameters{
		// berth purges uploads itself (registry/purge.go).
		"uploadpurging": map[any]any{
			"enabled":  false,
			"age":      c.UploadPurging.Age.String(),
			"interval": c.UploadPurging.Interval.String(),
			"dryrun":   c.UploadPurging.DryRun,
		},
		"readonly": map[any]any{"enabled": c.ReadOnly},
	}
	return st
}

func (s *S3Config) parameters() configuration.Parameters {
	p := configuration.Parameters{
		"bucket":         s.Bucket,
		"region":         s.Region,
		"forcepathstyle": s.PathStyle,
		"secure":         s.Secure,
		"skipverify":     s.SkipVerify,
		"chunksize":      s.ChunkSize,
		"v4auth":         true,
	}
	if s.Region == "" {
		p["region"] = "us-east-1"
	}
	if s.AccessKey != "" {
		p["accesskey"] = s.AccessKey
		p["secretkey"] = s.SecretKey
	}
	if s.Endpoint != "" {
		host, secure, _ := s.endpointHost()
		scheme := "http"
		if secure {
			scheme = "https"
		}
		p["regionendpoint"] = scheme + "://" + host
		p["secure"] = secure
	}
	if s.RootDirectory != "" {
		p["rootdirectory"] = "/" + strings.Trim(s.RootDirectory, "/")
	}
	return p
}

// Open validates the configuration, checks that the backend is reachable
// (creating the bucket or directory when allowed) and returns a driver for
// berth's own use. Distribution's app opens its own instance from the same
// parameters; both see the same bytes.
func Open(ctx context.Context, c *Config) (storagedriver.StorageDriver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Driver {
	case DriverFilesystem:
		if err := os.MkdirAll(c.Filesystem.RootDirectory, 0o750); err != nil {
			return nil, fmt.Errorf("storage.filesystem.rootDirectory: %w", err)
		}
	case DriverS3:
		if err := checkS3(ctx, &c.S3); err != nil {
			return nil, err
		}
	}
	params := map[string]any(c.DistributionStorage("")[c.Driver])
	d, err := factory.Create(ctx, c.Driver, params)
	if err != nil {
		return nil, fmt.Errorf("storage: %s driver: %w", c.Driver, err)
	}
	g := Guard(d, c.Timeout).(*guard)
	if c.Driver == DriverFilesystem {
		g.root = c.Filesystem.RootDirectory
	}
	return g, nil
}

// Ping reads the marker berth keeps in storage, proving the backend answers.
// A missing marker is not an error: the backend answered.
func Ping(ctx context.Context, d storagedriver.StorageDriver) error {
	_, err := d.Stat(ctx, SecretPath)
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &nf) {
		return err
	}
	return nil
}
