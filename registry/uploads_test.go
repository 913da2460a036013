package registry

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3"
	diststorage "github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/upload"
)

// The S3 upload store against a real MinIO: what it stores, what it leaves
// behind, and that distribution's own writer and it continue each other's
// uploads. (The filesystem store is tested in storage/upload.)

const s3TestRepo = "library/up"

type s3Env struct {
	cfg    storage.Config
	driver storagedriver.StorageDriver
	store  *upload.Store
	client *minio.Client
}

func newS3Env(t *testing.T, m *berthtest.MinIO, bucket string) *s3Env {
	t.Helper()
	cfg := storage.Defaults()
	cfg.Driver = storage.DriverS3
	cfg.Timeout = 2 * time.Second
	cfg.S3.Endpoint, cfg.S3.Bucket = "http://"+m.Endpoint, bucket
	cfg.S3.AccessKey, cfg.S3.SecretKey, cfg.S3.CreateBucket = m.AccessKey, m.SecretKey, true
	cfg.S3.RootDirectory = "/prefix"
	ctx := context.Background()
	d, err := storage.Open(ctx, &cfg)
	for i := 0; err != nil && strings.Contains(err.Error(), "not initialized") && i < 60; i++ {
		time.Sleep(500 * time.Millisecond) // MinIO answers health checks before it serves buckets
		d, err = storage.Open(ctx, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := newUploads(ctx, &cfg, d)
	if err != nil || st == nil {
		t.Fatalf("upload store: %v", err)
	}
	c, err := cfg.S3.Client()
	if err != nil {
		t.Fatal(err)
	}
	return &s3Env{cfg: cfg, driver: d, store: st, client: c}
}

func blobPath(d digest.Digest) string {
	return "/docker/registry/v2/blobs/" + d.Algorithm().String() + "/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
}

// multiparts lists the multipart uploads left in the bucket.
func (e *s3Env) multiparts(t *testing.T) []string {
	t.Helper()
	var keys []string
	for u := range e.client.ListIncompleteUploads(context.Background(), e.cfg.S3.Bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		keys = append(keys, u.Key)
	}
	return keys
}

type chunk struct {
	n       int
	unknown bool // sent without a length, as docker's chunked PATCH
}

// pushS3 sends data as PATCHes of the given chunks, then a PUT with the rest
// and dgst, a Writer per request as distribution's handlers do.
func pushS3(t *testing.T, st *upload.Store, data []byte, chunks []chunk, dgst digest.Digest, putUnknown bool, beforeCommit func()) (v1.Descriptor, error) {
	t.Helper()
	ctx := context.Background()
	w, err := st.Create(ctx, s3TestRepo)
	if err != nil {
		t.Fatal(err)
	}
	id := w.ID()
	w.Close()
	off := 0
	for _, c := range chunks {
		h := upload.Hint{Length: int64(c.n)}
		if c.unknown {
			h.Length = -1
		}
		w, err := st.Resume(upload.WithHint(ctx, h), s3TestRepo, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.Size() != int64(off) {
			t.Fatalf("resumed at %d, want %d", w.Size(), off)
		}
		if _, err := w.ReadFrom(bytes.NewReader(data[off : off+c.n])); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		off += c.n
	}
	h := upload.Hint{Digest: dgst, Length: int64(len(data) - off)}
	if putUnknown {
		h.Length = -1
	}
	w, err = st.Resume(upload.WithHint(ctx, h), s3TestRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(data[off:])); err != nil {
		t.Fatal(err)
	}
	beforeCommit()
	desc, err := w.Commit(ctx, v1.Descriptor{Digest: dgst})
	if err != nil {
		_ = w.Cancel(ctx)
	}
	w.Close()
	return desc, err
}

func testData(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func TestS3Uploads(t *testing.T) {
	m := berthtest.StartMinIO(t)
	e := newS3Env(t, m, "uploads-test")
	const mib = 1 << 20
	data := testData(1, 13*mib+12345)
	sum := sha512.Sum512(data)
	d512 := digest.NewDigestFromBytes(digest.SHA512, sum[:])
	wrong := digest.FromString("not the data")
	cases := []struct {
		name       string
		chunks     []chunk
		putUnknown bool
		digest     digest.Digest
		ok         bool
	}{
		{"monolithic, streamed to the blob", nil, false, digest.FromBytes(data), true},
		{"monolithic without a length", nil, true, digest.FromBytes(data), true},
		{"PATCHes of 5 MiB", []chunk{{n: 5 * mib}, {n: 5 * mib}}, false, digest.FromBytes(data), true},
		{"PATCHes of 8 MiB", []chunk{{n: 8 * mib}}, false, digest.FromBytes(data), true},
		{"one PATCH without a length, empty PUT", []chunk{{n: len(data), unknown: true}}, false, digest.FromBytes(data), true},
		{"PATCHes under 5 MiB", []chunk{{n: mib}, {n: 3 * mib}, {n: 2 * mib}}, false, digest.FromBytes(data), true},
		{"sha512, monolithic", nil, false, d512, true},
		{"sha512, chunked", []chunk{{n: 6 * mib}}, false, d512, true},
		{"wrong digest, monolithic", nil, false, wrong, false},
		{"wrong digest, chunked", []chunk{{n: 6 * mib}}, false, wrong, false},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			canonical := digest.FromBytes(data)
			_ = e.driver.Delete(ctx, blobPath(canonical)) // each case stores it anew
			// Before the commit, the data sits in one multipart upload: at
			// the blob's own key when the PUT named its sha256 digest and
			// carried all of it, else at the upload's data key.
			wantKey := "/_uploads/"
			if c.chunks == nil && c.digest.Algorithm() == digest.SHA256 {
				wantKey = strings.TrimPrefix(blobPath(c.digest), "/")
			}
			beforeCommit := func() {
				if left := e.multiparts(t); len(left) != 1 || !strings.Contains(left[0], wantKey) {
					t.Errorf("multipart uploads before the commit: %v, want one at %s", left, wantKey)
				}
			}
			desc, err := pushS3(t, e.store, data, c.chunks, c.digest, c.putUnknown, beforeCommit)
			if left := e.multiparts(t); len(left) > 0 {
				t.Errorf("multipart uploads left behind: %v", left)
			}
			if !c.ok {
				if !errors.As(err, new(distribution.ErrBlobInvalidDigest)) {
					t.Fatalf("wrong digest: %v, want ErrBlobInvalidDigest", err)
				}
				if _, err := e.driver.Stat(ctx, blobPath(canonical)); err == nil {
					t.Error("the blob was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest != canonical || desc.Size != int64(len(data)) {
				t.Errorf("descriptor %s %d", desc.Digest, desc.Size)
			}
			got, err := e.driver.GetContent(ctx, blobPath(canonical))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored blob differs (%d bytes, %v)", len(got), err)
			}
			for _, l := range []digest.Digest{canonical, c.digest} {
				link, err := e.driver.GetContent(ctx, "/docker/registry/v2/repositories/"+s3TestRepo+"/_layers/"+l.Algorithm().String()+"/"+l.Encoded()+"/link")
				if err != nil || string(link) != canonical.String() {
					t.Errorf("link %s: %q %v", l, link, err)
				}
			}
		})
	}
	keys := e.client.ListObjects(ctx, e.cfg.S3.Bucket, minio.ListObjectsOptions{Prefix: "prefix/docker/registry/v2/repositories/" + s3TestRepo + "/_uploads/", Recursive: true})
	for o := range keys {
		t.Errorf("upload object left behind: %s", o.Key)
	}
}

// Distribution's S3 writer and berth's continue each other's uploads.
func TestS3UploadsInteroperateWithDistribution(t *testing.T) {
	m := berthtest.StartMinIO(t)
	e := newS3Env(t, m, "uploads-interop")
	ctx := context.Background()
	reg, err := diststorage.NewRegistry(ctx, e.driver)
	if err != nil {
		t.Fatal(err)
	}
	named, _ := reference.WithName(s3TestRepo)
	repo, err := reg.Repository(ctx, named)
	if err != nil {
		t.Fatal(err)
	}
	for _, first := range []string{"berth", "distribution"} {
		t.Run(first+" first", func(t *testing.T) {
			data := testData(uint64(len(first)), 11<<20+999)
			half := 6 << 20
			dgst := digest.FromBytes(data)
			if first == "berth" {
				w, _ := e.store.Create(ctx, s3TestRepo)
				id := w.ID()
				w, err := e.store.Resume(upload.WithHint(ctx, upload.Hint{Length: int64(half)}), s3TestRepo, id)
				if err != nil {
					t.Fatal(err)
				}
				w.ReadFrom(bytes.NewReader(data[:half]))
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				bw, err := repo.Blobs(ctx).Resume(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if bw.Size() != int64(half) {
					t.Fatalf("distribution resumed at %d, want %d", bw.Size(), half)
				}
				bw.ReadFrom(bytes.NewReader(data[half:]))
				if _, err := bw.Commit(ctx, v1.Descriptor{Digest: dgst}); err != nil {
					t.Fatal(err)
				}
			} else {
				bw, err := repo.Blobs(ctx).Create(ctx)
				if err != nil {
					t.Fatal(err)
				}
				id := bw.ID()
				bw.ReadFrom(bytes.NewReader(data[:half]))
				if err := bw.Close(); err != nil {
					t.Fatal(err)
				}
				w, err := e.store.Resume(upload.WithHint(ctx, upload.Hint{Length: int64(len(data) - half), Digest: dgst}), s3TestRepo, id)
				if err != nil {
					t.Fatal(err)
				}
				if w.Size() != int64(half) {
					t.Fatalf("berth resumed at %d, want %d", w.Size(), half)
				}
				w.ReadFrom(bytes.NewReader(data[half:]))
				if _, err := w.Commit(ctx, v1.Descriptor{Digest: dgst}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := e.driver.GetContent(ctx, blobPath(dgst))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored blob differs: %v", err)
			}
		})
	}
}

// An upload body stalled by storage (MinIO stopped with SIGSTOP) fails as
// unavailable after storage.timeout instead of hanging.
func TestS3UploadStalledByStorage(t *testing.T) {
	m := berthtest.StartMinIO(t)
	e := newS3Env(t, m, "uploads-stall")
	ctx, mark := storage.WithUnavailableMark(context.Background())
	w, err := e.store.Create(ctx, s3TestRepo)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	w, err = e.store.Resume(upload.WithHint(ctx, upload.Hint{Length: size, Digest: digest.FromString("x")}), s3TestRepo, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		block := make([]byte, 1<<20)
		for i := 0; i < size>>20; i++ {
			if i == 8 {
				m.Pause()
			}
			if _, err := pw.Write(block); err != nil {
				return
			}
		}
	}()
	defer m.Resume()
	done := make(chan error, 1)
	go func() { _, err := w.ReadFrom(pr); done <- err }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute): // a hang detector, not a timing assertion
		t.Fatal("the upload still hangs 2 minutes after storage stopped answering")
	}
	if err == nil || !storage.IsUnavailable(err) || !mark() {
		t.Fatalf("stalled upload: %v (unavailable: %v, marked: %v), want a storage-unavailable error", err, storage.IsUnavailable(err), mark())
	}
	if !strings.Contains(err.Error(), "no progress") {
		t.Errorf("error %q does not say what happened", err)
	}
}

// What a crash mid-push leaves on S3 (multipart uploads never completed,
// at an upload's data key or streaming to a blob's own key) is aborted by
// the purge once older than the age, and not before.
func TestS3PurgeStale(t *testing.T) {
	m := berthtest.StartMinIO(t)
	e := newS3Env(t, m, "uploads-purge")
	ctx := context.Background()
	core := minio.Core{Client: e.client}
	for _, key := range []string{
		"prefix/docker/registry/v2/repositories/library/up/_uploads/abc/data",
		"prefix" + blobPath(digest.FromString("crashed")),
	} {
		if _, err := core.NewMultipartUpload(ctx, e.cfg.S3.Bucket, key, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.store.PurgeStale(ctx, time.Now().Add(-time.Hour), false); err != nil || n != 0 {
		t.Fatalf("purge of uploads older than an hour: %d, %v; want none", n, err)
	}
	if n, err := e.store.PurgeStale(ctx, time.Now().Add(time.Minute), true); err != nil || n != 2 || len(e.multiparts(t)) != 2 {
		t.Fatalf("dry run: %d, %v, %d left; want 2 counted, 2 left", n, err, len(e.multiparts(t)))
	}
	if n, err := e.store.PurgeStale(ctx, time.Now().Add(time.Minute), false); err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want 2", n, err)
	}
	if left := e.multiparts(t); len(left) > 0 {
		t.Fatalf("left after the purge: %v", left)
	}
}
