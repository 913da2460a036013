package registry

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage/upload"
)

// An upload whose last part is under 5 MiB is rebased before more data
// follows it: its parts completed into an object at the data key, a new
// multipart upload started, the object copied in as its first part (read
// into the next part when under 5 MiB). A request stopped between those
// steps (a crash, storage failing) leaves the object, alone or beside an
// upload without its first part: either reads as the upload's data, and
// the next request carries on from it.
func TestS3UploadResumesEveryRebaseState(t *testing.T) {
	m := berthtest.StartMinIO(t)
	e := newS3Env(t, m, "uploads-rebase")
	core := minio.Core{Client: e.client}
	ctx := context.Background()
	const mib = 1 << 20
	// S3 copies at most 5 GiB in one call: a store told 10 MiB splits.
	split := upload.NewS3(e.driver, upload.S3Options{
		Client: e.client, Bucket: e.cfg.S3.Bucket, KeyPrefix: e.cfg.S3.KeyPrefix(),
		PartSize: e.cfg.S3.ChunkSize, Timeout: e.cfg.Timeout, CopyPartSize: 10 * mib,
	})
	cases := []struct {
		name      string
		first     int  // bytes of the first PATCH (without a length: 5 MiB parts, a short last one)
		completed bool // the parts were completed into the object, and nothing more
		emptyNext bool // the new multipart upload was started, nothing copied in
		lastOnly  bool // ... and the last of two copied parts was copied in
		split     bool // copies of at most 10 MiB
		parts     int  // parts of the upload after the second PATCH
	}{
		{"short last part, read back", 3*mib + 7, false, false, false, false, 1},
		{"object under 5 MiB, no upload", 3*mib + 7, true, false, false, false, 1},
		{"object under 5 MiB beside an empty upload", 3*mib + 7, true, true, false, false, 1},
		{"short last part, copied", 6*mib + 7, false, false, false, false, 2},
		{"object over 5 MiB, no upload", 6*mib + 7, true, false, false, false, 2},
		{"object over 5 MiB beside an empty upload", 6*mib + 7, true, true, false, false, 2},
		{"short last part, copied in two", 12*mib + 7, false, false, false, true, 3},
		{"object over 10 MiB beside an empty upload, copied in two", 12*mib + 7, true, true, false, true, 3},
		{"object over 10 MiB beside an upload of its last copied part", 12*mib + 7, true, true, true, true, 3},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := e.store
			if c.split {
				st = split
			}
			data := testData(uint64(10+i), 16*mib+321)
			id := s3Patch(t, st, "", data[:c.first], -1)
			key := "prefix" + "/docker/registry/v2/repositories/" + s3TestRepo + "/_uploads/" + id + "/data"
			second := c.first + 2*mib
			if !c.completed {
				s3Patch(t, st, id, data[c.first:second], int64(second-c.first))
				uploadAt(t, core, e.cfg.S3.Bucket, key, c.parts)
				s3Put(t, e, st, id, data, second)
				return
			}
			up, err := core.ListMultipartUploads(ctx, e.cfg.S3.Bucket, key, "", "", "", 10)
			if err != nil || len(up.Uploads) != 1 {
				t.Fatalf("the upload at %s: %v %v", key, up.Uploads, err)
			}
			uploadID := up.Uploads[0].UploadID
			parts, err := core.ListObjectParts(ctx, e.cfg.S3.Bucket, key, uploadID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var done []minio.CompletePart
			for _, p := range parts.ObjectParts {
				done = append(done, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
			}
			if _, err := core.CompleteMultipartUpload(ctx, e.cfg.S3.Bucket, key, uploadID, done, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			if c.emptyNext {
				next, err := core.NewMultipartUpload(ctx, e.cfg.S3.Bucket, key, minio.PutObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if c.lastOnly {
					half := int64(c.first+1) / 2
					if _, err := core.CopyObjectPart(ctx, e.cfg.S3.Bucket, key, e.cfg.S3.Bucket, key, next, 2, half, int64(c.first)-half, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			s3Patch(t, st, id, data[c.first:second], int64(second-c.first))
			uploadAt(t, core, e.cfg.S3.Bucket, key, c.parts)
			s3Put(t, e, st, id, data, second)
		})
	}
}

// uploadAt checks that key has one multipart upload, of parts parts.
func uploadAt(t *testing.T, core minio.Core, bucket, key string, parts int) {
	t.Helper()
	ctx := context.Background()
	up, err := core.ListMultipartUploads(ctx, bucket, key, "", "", "", 10)
	if err != nil || len(up.Uploads) != 1 {
		t.Fatalf("the upload at %s: %v %v", key, up.Uploads, err)
	}
	res, err := core.ListObjectParts(ctx, bucket, key, up.Uploads[0].UploadID, 0, 100)
	if err != nil || len(res.ObjectParts) != parts {
		t.Fatalf("the upload at %s has %d parts (%v), want %d", key, len(res.ObjectParts), err, parts)
	}
}

// s3Put finishes upload id with a PUT of data past off and checks the blob
// and that no multipart upload is left at its data key.
func s3Put(t *testing.T, e *s3Env, st *upload.Store, id string, data []byte, off int) {
	t.Helper()
	ctx := context.Background()
	dgst := digest.FromBytes(data)
	w, err := st.Resume(upload.WithHint(ctx, upload.Hint{Digest: dgst, Length: int64(len(data) - off)}), s3TestRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(off) {
		t.Fatalf("resumed for the PUT at %d, want %d", w.Size(), off)
	}
	if _, err := w.ReadFrom(bytes.NewReader(data[off:])); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, v1.Descriptor{Digest: dgst}); err != nil {
		t.Fatal(err)
	}
	got, err := e.driver.GetContent(ctx, blobPath(dgst))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored blob differs (%d bytes, %v)", len(got), err)
	}
	for _, k := range e.multiparts(t) {
		if strings.Contains(k, id) {
			t.Errorf("multipart upload left behind at %s", k)
		}
	}
}

// A client that goes away in the middle of a PATCH (its request's context
// is cancelled then) after a short last part: the rebase is not left half
// done, and what arrived is kept for the resumed upload.
func TestS3UploadClientGoneAfterShortPart(t *testing.T) {
	m := berthtest.StartMinIO(t)
	e := newS3Env(t, m, "uploads-gone")
	const mib = 1 << 20
	data := testData(42, 12*mib+99)
	first := 3*mib + 1
	id := s3Patch(t, e.store, "", data[:first], -1)
	for _, sent := range []int{mib, 4 * mib} { // into the rebased first part; past it, into a streamed one
		ctx, cancel := context.WithCancel(context.Background())
		w, err := e.store.Resume(upload.WithHint(ctx, upload.Hint{Length: int64(8 * mib)}), s3TestRepo, id)
		if err != nil {
			t.Fatal(err)
		}
		off := int(w.Size())
		body := &goneReader{r: bytes.NewReader(data[off : off+sent]), cancel: cancel}
		// The body's error, or a part's write failing once the context is
		// cancelled (what was read ahead is still being stored then).
		if _, err := w.ReadFrom(body); err == nil {
			t.Fatal("a cut body read without an error")
		}
		_ = w.Close()
		w, err = e.store.Resume(context.Background(), s3TestRepo, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(w.Size()); got < off || got > off+sent {
			t.Fatalf("after %d bytes of a cut PATCH at %d the upload holds %d", sent, off, got)
		}
		t.Logf("%d bytes cut at %d: the upload holds %d", sent, off, w.Size())
		w.Close()
	}

	// The client goes away while the rebase waits on storage (MinIO
	// paused): the rebase finishes once storage answers, and every byte
	// of the chunked PATCH that arrived is kept.
	off := s3Size(t, e.store, id)
	s3Patch(t, e.store, id, data[off:off+mib], -1) // a short last part again
	off += mib
	ctx, cancel := context.WithCancel(context.Background())
	w, err := e.store.Resume(upload.WithHint(ctx, upload.Hint{Length: -1}), s3TestRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	m.Pause()
	read := make(chan error, 1)
	go func() {
		_, err := w.ReadFrom(&goneReader{r: bytes.NewReader(data[off : off+64<<10]), cancel: cancel})
		read <- err
	}()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute): // a hang detector, not a timing assertion
		t.Fatal("the body was not read while storage was paused")
	}
	m.Resume()
	<-read
	_ = w.Close()
	if got := s3Size(t, e.store, id); got != off+64<<10 {
		t.Fatalf("the client went away during the rebase: the upload holds %d, want %d", got, off+64<<10)
	}

	off = s3Size(t, e.store, id)
	dgst := digest.FromBytes(data)
	w, err = e.store.Resume(upload.WithHint(context.Background(), upload.Hint{Digest: dgst, Length: int64(len(data) - off)}), s3TestRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(data[off:])); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background(), v1.Descriptor{Digest: dgst}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.driver.GetContent(context.Background(), blobPath(dgst)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored blob differs (%d bytes, %v)", len(got), err)
	}
}

// goneReader yields r, cancels the request's context and then fails as a
// body whose client went away.
type goneReader struct {
	r      *bytes.Reader
	cancel context.CancelFunc
}

func (g *goneReader) Read(p []byte) (int, error) {
	if g.r.Len() == 0 {
		g.cancel()
		return 0, io.ErrUnexpectedEOF
	}
	return g.r.Read(p)
}

// s3Patch sends data as one request of upload id (a new upload when id is
// ""), length -1 for one without a length, and returns the id.
func s3Patch(t *testing.T, st *upload.Store, id string, data []byte, length int64) string {
	t.Helper()
	ctx := context.Background()
	if id == "" {
		w, err := st.Create(ctx, s3TestRepo)
		if err != nil {
			t.Fatal(err)
		}
		id = w.ID()
	}
	w, err := st.Resume(upload.WithHint(ctx, upload.Hint{Length: length}), s3TestRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	before := w.Size()
	if _, err := w.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if after := s3Size(t, st, id); after != int(before)+len(data) {
		t.Fatalf("after a PATCH of %d bytes at %d the upload holds %d", len(data), before, after)
	}
	return id
}

func s3Size(t *testing.T, st *upload.Store, id string) int {
	t.Helper()
	w, err := st.Resume(context.Background(), s3TestRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return int(w.Size())
}
