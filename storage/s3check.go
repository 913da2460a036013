package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	host := "s3.amazonaws.com"
	secure := true
	if s.Endpoint != "" {
		var err error
		host, secure, err = s.endpointHost()
		if err != nil {
			return fieldErr("storage.s3.endpoint", "%v", err)
		}
	}
	lookup := minio.BucketLookupDNS
	if s.PathStyle {
		lookup = minio.BucketLookupPath
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return fmt.Errorf("storage: s3 transport: %w", err)
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
		MaxRetries:   1,
	})
	if err != nil {
		return fieldErr("storage.s3.endpoint", "%v", err)
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
