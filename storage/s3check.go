package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3CheckTimeout bounds the start-up probe of the bucket.
const s3CheckTimeout = 10 * time.Second

// checkS3 asks the endpoint whether the bucket exists, creates it when the
// configuration allows, and turns every failure into a message that says
// what to fix.
func checkS3(ctx context.Context, s *S3Config) error {
	client, host, err := s.client(1)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s3CheckTimeout)
	defer cancel()

	exists, err := client.BucketExists(ctx, s.Bucket)
	if err != nil {
		return describeS3Error(host, s.Bucket, err)
	}
	if exists {
		return nil
	}
	if !s.CreateBucket {
		return fieldErr("storage.s3.bucket", "bucket %q does not exist at %s (create it, or set storage.s3.createBucket: true)", s.Bucket, host)
	}
	if err := client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == "BucketAlreadyOwnedByYou" || resp.Code == "BucketAlreadyExists") {
			return nil // another replica created it first
		}
		return describeS3Error(host, s.Bucket, err)
	}
	return nil
}

func describeS3Error(host, bucket string, err error) error {
	var netErr net.Error
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return fieldErr("storage.s3.endpoint", "cannot reach S3 endpoint %s: %v", host, err)
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch" ||
		resp.StatusCode == http.StatusForbidden || resp.Code == "AccessDenied":
		return fieldErr("storage.s3.accessKey", "S3 endpoint %s refused the credentials for bucket %q: %s", host, bucket, firstNonEmpty(resp.Message, err.Error()))
	case resp.Code == "InvalidBucketName":
		return fieldErr("storage.s3.bucket", "%q: %s", bucket, resp.Message)
	}
	return fmt.Errorf("storage: S3 endpoint %s, bucket %q: %w", host, bucket, err)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// client is a MinIO client for the configured endpoint, which retries a
// failed request up to retries times, and the endpoint's host.
func (s *S3Config) client(retries int) (*minio.Client, string, error) {
	host := "s3.amazonaws.com"
	secure := true
	if s.Endpoint != "" {
		var err error
		host, secure, err = s.endpointHost()
		if err != nil {
			return nil, "", fieldErr("storage.s3.endpoint", "%v", err)
		}
	}
	lookup := minio.BucketLookupDNS
	if s.PathStyle {
		lookup = minio.BucketLookupPath
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, "", fmt.Errorf("storage: s3 transport: %w", err)
	}
	if s.SkipVerify && tr.TLSClientConfig != nil {
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       secure,
		Region:       s.Region,
		BucketLookup: lookup,
		Transport:    tr,
		MaxRetries:   retries,
	})
	if err != nil {
		return nil, "", fieldErr("storage.s3.endpoint", "%v", err)
	}
	return client, host, nil
}

// Client is a MinIO client for the configured endpoint (berth's own S3
// calls; distribution's driver has its own).
func (s *S3Config) Client() (*minio.Client, error) {
	c, _, err := s.client(3)
	return c, err
}

// KeyPrefix is what the S3 driver puts before a storage path to make the
// object key (distribution's s3Path): the root directory, no leading "/".
func (s *S3Config) KeyPrefix() string {
	if s.RootDirectory == "" {
		return ""
	}
	return strings.Trim(s.RootDirectory, "/")
}
