// Package storage sets up where berth keeps its bytes: the blob storage driver
// (filesystem by default, S3/MinIO for many replicas) that distribution serves
// from, and checks that it is reachable before berth starts serving.
package storage

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Driver names accepted in Config.Driver.
const (
	DriverFilesystem = "filesystem"
	DriverS3         = "s3"
)

// Config selects and configures the blob storage driver.
type Config struct {
	// Driver is "filesystem" (default) or "s3".
	Driver     string           `yaml:"driver"`
	Filesystem FilesystemConfig `yaml:"filesystem"`
	S3         S3Config         `yaml:"s3"`
	// Redirect lets clients fetch blobs straight from the backend through
	// pre-signed URLs (S3 only). Off by default: every byte then passes
	// through berth's authorization and metrics.
	Redirect bool `yaml:"redirect"`
	// Timeout bounds each metadata call to the backend (stat, list, small
	// reads and writes, moves, deletes) so an unresponsive backend yields a
	// 503 rather than a hung request. Blob streams are not bounded by it.
	Timeout time.Duration `yaml:"timeout"`
	// ReadOnly puts the registry in maintenance mode: pulls only.
	ReadOnly      bool                `yaml:"readOnly"`
	UploadPurging UploadPurgingConfig `yaml:"uploadPurging"`
}

// FilesystemConfig configures the filesystem driver.
type FilesystemConfig struct {
	// RootDirectory defaults to <dataDir>/registry.
	RootDirectory string `yaml:"rootDirectory"`
	// DirectWrites writes the bulk of uploads with O_DIRECT (where the
	// filesystem supports it): no copy into the page cache, a fraction of
	// the CPU, but blobs are not cached after their push and the disk's
	// latency is on the push path. Off: through the page cache, handed to
	// writeback as they arrive.
	DirectWrites bool `yaml:"directWrites"`
}

// S3Config configures the S3 driver against AWS S3 or MinIO.
type S3Config struct {
	// Endpoint is host:port or a URL (http://host:port). Empty means AWS.
	Endpoint  string `yaml:"endpoint"`
	Bucket    string `yaml:"bucket"`
	AccessKey string `yaml:"accessKey"`
	SecretKey string `yaml:"secretKey"`
	Region    string `yaml:"region"`
	// PathStyle addresses the bucket as endpoint/bucket (MinIO) rather than
	// bucket.endpoint (AWS virtual-hosted style).
	PathStyle bool `yaml:"pathStyle"`
	// Secure uses TLS to reach the endpoint.
	Secure bool `yaml:"secure"`
	// SkipVerify disables TLS certificate verification (test setups only).
	SkipVerify bool `yaml:"skipVerify"`
	// RootDirectory is a key prefix inside the bucket.
	RootDirectory string `yaml:"rootDirectory"`
	// CreateBucket creates the bucket at start-up when it does not exist.
	CreateBucket bool `yaml:"createBucket"`
	// ChunkSize is the multipart upload part size in bytes (min 5 MiB).
	ChunkSize int64 `yaml:"chunkSize"`
}

// UploadPurgingConfig removes abandoned uploads.
type UploadPurgingConfig struct {
	Enabled  bool          `yaml:"enabled"`
	Age      time.Duration `yaml:"age"`
	Interval time.Duration `yaml:"interval"`
	DryRun   bool          `yaml:"dryRun"`
}

const minS3ChunkSize = 5 << 20

// Defaults returns the embedded defaults: filesystem storage, whose root
// directory is filled in from the data directory by UseDataDir.
func Defaults() Config {
	return Config{
		Driver: DriverFilesystem,
		S3: S3Config{
			Region:    "us-east-1",
			PathStyle: true,
			ChunkSize: minS3ChunkSize,
		},
		Timeout: 30 * time.Second,
		UploadPurging: UploadPurgingConfig{
			Enabled:  true,
			Age:      24 * time.Hour,
			Interval: time.Hour,
		},
	}
}

// UseDataDir places the filesystem root under dataDir unless it was set.
func (c *Config) UseDataDir(dataDir string) {
	if c.Filesystem.RootDirectory == "" {
		c.Filesystem.RootDirectory = filepath.Join(dataDir, "registry")
	}
}

// FieldError names the configuration key that holds a bad value.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the values without touching the backend. Keys in errors
// are given with the "storage." prefix as they appear in the YAML file.
func (c *Config) Validate() error {
	var errs []error
	switch c.Driver {
	case DriverFilesystem:
		if c.Filesystem.RootDirectory == "" {
			errs = append(errs, fieldErr("storage.filesystem.rootDirectory", "must not be empty"))
		}
		if c.Redirect {
			errs = append(errs, fieldErr("storage.redirect", "is only supported with the s3 driver"))
		}
	case DriverS3:
		errs = append(errs, c.S3.validate()...)
	default:
		errs = append(errs, fieldErr("storage.driver", "must be %q or %q, not %q", DriverFilesystem, DriverS3, c.Driver))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fieldErr("storage.timeout", "must be a positive duration"))
	}
	if p := c.UploadPurging; p.Enabled {
		if p.Age <= 0 {
			errs = append(errs, fieldErr("storage.uploadPurging.age", "must be a positive duration"))
		}
		if p.Interval <= 0 {
			errs = append(errs, fieldErr("storage.uploadPurging.interval", "must be a positive duration"))
		}
	}
	return errors.Join(errs...)
}

func (s *S3Config) validate() []error {
	var errs []error
	if s.Bucket == "" {
		errs = append(errs, fieldErr("storage.s3.bucket", "is required with the s3 driver"))
	} else if !validBucketName(s.Bucket) {
		errs = append(errs, fieldErr("storage.s3.bucket", "%q is not a valid bucket name (3-63 lowercase letters, digits, '.' and '-')", s.Bucket))
	}
	if s.Endpoint != "" {
		if _, _, err := s.endpointHost(); err != nil {
			errs = append(errs, fieldErr("storage.s3.endpoint", "%v", err))
		}
	}
	if s.Endpoint == "" && s.Region == "" {
		errs = append(errs, fieldErr("storage.s3.region", "is required when no endpoint is set"))
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		errs = append(errs, fieldErr("storage.s3.secretKey", "accessKey and secretKey go together"))
	}
	if s.ChunkSize < minS3ChunkSize {
		errs = append(errs, fieldErr("storage.s3.chunkSize", "must be at least %d bytes", minS3ChunkSize))
	}
	if strings.Contains(s.RootDirectory, "..") {
		errs = append(errs, fieldErr("storage.s3.rootDirectory", "must not contain '..'"))
	}
	return errs
}

// endpointHost splits Endpoint into host:port and whether TLS is implied.
// A bare host:port takes TLS from Secure.
func (s *S3Config) endpointHost() (host string, secure bool, err error) {
	ep := s.Endpoint
	if !strings.Contains(ep, "://") {
		if strings.ContainsAny(ep, "/?#") || ep == "" {
			return "", false, fmt.Errorf("%q is not host:port or a URL", ep)
		}
		return ep, s.Secure, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", false, fmt.Errorf("%q is not a valid URL: %v", ep, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("%q: scheme must be http or https", ep)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("%q: want scheme://host[:port] with no path", ep)
	}
	return u.Host, u.Scheme == "https", nil
}

func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, r := range b {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (r == '-' || r == '.') && i > 0 && i < len(b)-1
		if !ok {
			return false
		}
	}
	return !strings.Contains(b, "..")
}
