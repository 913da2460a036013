package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

func TestS3Parameters(t *testing.T) {
	cases := []struct {
		name     string
		s3       S3Config
		endpoint string
		secure   bool
	}{
		{"url http", S3Config{Endpoint: "http://127.0.0.1:9000"}, "http://127.0.0.1:9000", false},
		{"url https", S3Config{Endpoint: "https://s3.local"}, "https://s3.local", true},
		{"bare host, secure flag", S3Config{Endpoint: "minio:9000", Secure: true}, "https://minio:9000", true},
		{"bare host", S3Config{Endpoint: "minio:9000"}, "http://minio:9000", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.s3.Bucket = "b"
			p := tc.s3.parameters()
			if p["regionendpoint"] != tc.endpoint || p["secure"] != tc.secure {
				t.Errorf("got endpoint %v secure %v, want %v %v", p["regionendpoint"], p["secure"], tc.endpoint, tc.secure)
			}
		})
	}
}

func TestDistributionStorageDefaults(t *testing.T) {
	c := Defaults()
	c.UseDataDir("/data")
	st := c.DistributionStorage("inmemory")
	if st.Type() != "filesystem" || st["filesystem"]["rootdirectory"] != "/data/registry" {
		t.Fatalf("driver section: %v", st)
	}
	if st["delete"]["enabled"] != true || st["redirect"]["disable"] != true || st["cache"]["blobdescriptor"] != "inmemory" {
		t.Fatalf("defaults missing: %v", st)
	}
	// berth purges abandoned uploads itself (after a day, every hour);
	// distribution's purger, which starts up to an hour late, stays off.
	purge := st["maintenance"]["uploadpurging"].(map[any]any)
	if purge["enabled"] != false {
		t.Fatalf("distribution's upload purging: %v", purge)
	}
	if p := c.UploadPurging; !p.Enabled || p.Age != 24*time.Hour || p.Interval != time.Hour {
		t.Fatalf("berth's upload purging defaults: %+v", p)
	}
}

func TestValidBucketName(t *testing.T) {
	for name, want := range map[string]bool{
		"berth": true, "my-bucket.01": true, "ab": false, "Bad": false, "-lead": false,
		"trail-": false, "a..b": false, strings.Repeat("a", 64): false, "under_score": false,
	} {
		if got := validBucketName(name); got != want {
			t.Errorf("validBucketName(%q) = %v, want %v", name, got, want)
		}
	}
}

type origErr struct{ cause error }

func (e origErr) Error() string   { return "RequestError: send request failed" }
func (e origErr) OrigErr() error  { return e.cause }
func (e origErr) Code() string    { return "RequestError" }
func (e origErr) Message() string { return "" }

func TestIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", storagedriver.PathNotFoundError{Path: "/x"}, false},
		{"plain error", errors.New("boom"), false},
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("stat: %w", context.DeadlineExceeded), true},
		{"refused", refused, true},
		{"aws style cause", storagedriver.Error{DriverName: "s3aws", Detail: origErr{cause: refused}}, true},
		{"dns", &net.DNSError{Err: "no such host", Name: "minio"}, true},
		{"message only", errors.New("dial tcp: connection refused"), true},
	}
	for _, tc := range cases {
		if got := IsUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: IsUnavailable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestGuardMarksUnavailableRequests(t *testing.T) {
	g := Guard(failingDriver{err: context.DeadlineExceeded}, 0)
	ctx, marked := WithUnavailableMark(context.Background())
	if _, err := g.Stat(ctx, "/x"); err == nil {
		t.Fatal("want error")
	}
	if !marked() {
		t.Error("outage not recorded on the request")
	}
	g = Guard(failingDriver{err: storagedriver.PathNotFoundError{Path: "/x"}}, 0)
	ctx, marked = WithUnavailableMark(context.Background())
	_, _ = g.Stat(ctx, "/x")
	if marked() {
		t.Error("a plain not-found was recorded as an outage")
	}
}

type failingDriver struct {
	storagedriver.StorageDriver
	err error
}

func (f failingDriver) Stat(context.Context, string) (storagedriver.FileInfo, error) {
	return nil, f.err
}
