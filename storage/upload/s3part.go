package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// Parts of a multipart upload: S3 wants every part but the last to be at
// least 5 MiB, and at most 10,000 parts.
const (
	minPart  = 5 << 20
	maxParts = 10000
)

// errStalled is how a storage call that made no progress for the timeout
// fails; it wraps context.DeadlineExceeded, so it reads as the backend not
// answering (503).
type errStalled struct{ d time.Duration }

func (e errStalled) Error() string {
	return fmt.Sprintf("storage made no progress for %s", e.d)
}

func (e errStalled) Unwrap() error { return context.DeadlineExceeded }

func (s *s3Sink) write(ps [][]byte) error {
	for _, p := range ps {
		if err := s.writeOne(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *s3Sink) writeOne(p []byte) error {
	if s.object || (s.tail > 0 && s.tail < minPart) {
		if err := s.rebase(); err != nil {
			return err
		}
	}
	for len(p) > 0 {
		if s.remaining == 0 && s.cur == nil {
			s.remaining = -1 // more than was announced: buffer from here on
		}
		if s.remaining < 0 || (s.buf != nil && s.buf.Len() > 0) {
			n, err := s.fill(p)
			if err != nil {
				return err
			}
			p = p[n:]
			if s.remaining > 0 {
				s.remaining -= int64(n)
			}
			continue
		}
		if s.cur == nil {
			if err := s.begin(s.ctx); err != nil {
				return err
			}
			s.cur = s.startPart(len(s.parts)+1, s.plan())
		}
		n := int(min(int64(len(p)), s.cur.left))
		if err := s.cur.write(p[:n]); err != nil {
			return s.endPart(err)
		}
		p, s.remaining = p[n:], s.remaining-int64(n)
		if s.cur.left == 0 {
			if err := s.endPart(nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// rebase makes the stored data the start of a new multipart upload, for
// the request's bytes to follow: every part but the last must be at least
// 5 MiB, and the upload ends in a shorter part (or was completed into an
// object at its data key). The parts are completed into that object, a new
// multipart upload is started, and the object becomes its first part
// (copied by S3) or, under 5 MiB, the start of the part this request fills.
// Every state in between reads the same (see open: an object beside an
// upload without its first part is the object), and a client going away
// does not stop it half way.
func (s *s3Sink) rebase() error {
	ctx := context.WithoutCancel(s.ctx)
	if !s.object {
		if err := s.complete(ctx); err != nil {
			return err
		}
		s.object, s.uploadID, s.parts = true, "", nil
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	if s.stored >= minPart {
		parts, err := s.copyObject(ctx)
		if err != nil {
			return err
		}
		s.parts, s.tail, s.object = parts, s.stored, false
		return nil
	}
	bctx, cancel := s.b.bounded(ctx)
	defer cancel()
	s.tail, s.object = 0, false
	rc, _, _, err := s.b.core.GetObject(bctx, s.b.bucket, s.key, minio.GetObjectOptions{})
	if err == nil {
		s.buf = bytes.NewBuffer(make([]byte, 0, s.b.partSize))
		_, err = io.Copy(s.buf, io.LimitReader(rc, s.stored))
		rc.Close()
	}
	if err == nil && int64(s.buf.Len()) != s.stored {
		err = fmt.Errorf("upload: read %d bytes of %d back", s.buf.Len(), s.stored)
	}
	if err != nil {
		s.object, s.buf = true, nil
		return err
	}
	s.stored = 0 // the bytes are in the buffer until it is uploaded
	return nil
}

// copyObject copies the object at the data key (s.stored bytes, at least
// 5 MiB) into the new multipart upload as its first parts: as few as S3's
// largest copy (CopyPartSize) allows, of equal sizes, the first one last,
// so that an upload without its first part reads as the object (see open)
// until all are there. A copy has no progress to watch, so each may take
// the timeout plus what the part needs at 8 MiB/s.
func (s *s3Sink) copyObject(ctx context.Context) ([]minio.CompletePart, error) {
	n := (s.stored + s.b.copySize - 1) / s.b.copySize
	size := (s.stored + n - 1) / n
	parts := make([]minio.CompletePart, n)
	for i := n - 1; i >= 0; i-- {
		off := i * size
		length := min(size, s.stored-off)
		cctx, cancel := context.WithTimeout(ctx, s.b.timeout+time.Duration(length/(8<<20))*time.Second)
		part, err := s.b.core.CopyObjectPart(cctx, s.b.bucket, s.key, s.b.bucket, s.key, s.uploadID, int(i)+1, off, length, nil)
		cancel()
		if err != nil {
			return nil, err
		}
		parts[i] = part
	}
	return parts, nil
}

// plan sizes the next part of a request with remaining bytes to come:
// PartSize, or all that is left when that is under PartSize + 5 MiB, and
// larger when 10,000 parts would not hold the rest.
func (s *s3Sink) plan() int64 {
	size := s.b.partSize
	if left := int64(maxParts - len(s.parts)); left > 1 {
		size = max(size, (s.remaining+left-1)/left)
	}
	if s.remaining < size+minPart {
		return s.remaining
	}
	return size
}

// fill buffers p and uploads the buffer once it holds a part: PartSize
// bytes, or, when the request's length is known (after a rebase read the
// upload's start into the buffer), all it has left if that would leave
// less than 5 MiB after a part.
func (s *s3Sink) fill(p []byte) (int, error) {
	if s.buf == nil {
		s.buf = bytes.NewBuffer(make([]byte, 0, s.b.partSize))
	}
	limit := s.b.partSize
	if s.remaining > 0 && int64(s.buf.Len())+s.remaining < limit+minPart {
		limit = int64(s.buf.Len()) + s.remaining
	}
	n := int(max(0, min(int64(len(p)), limit-int64(s.buf.Len()))))
	s.buf.Write(p[:n])
	if int64(s.buf.Len()) >= limit {
		return n, s.putBuffered(s.ctx)
	}
	return n, nil
}

func (s *s3Sink) putBuffered(ctx context.Context) error {
	if s.buf == nil || s.buf.Len() == 0 {
		return nil
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	size := int64(s.buf.Len())
	part, err := s.b.putPart(ctx, s.key, s.uploadID, len(s.parts)+1, bytes.NewReader(s.buf.Bytes()), size)
	if err != nil {
		return err
	}
	s.parts, s.stored = append(s.parts, part), s.stored+size
	s.buf.Reset()
	return nil
}

// begin creates the multipart upload at the first part.
func (s *s3Sink) begin(ctx context.Context) error {
	if s.uploadID != "" {
		return nil
	}
	ctx, cancel := s.b.bounded(ctx)
	defer cancel()
	id, err := s.b.core.NewMultipartUpload(ctx, s.b.bucket, s.key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return err
	}
	s.uploadID = id
	return nil
}

// endPart waits for the current part (failing it when abandon is set).
func (s *s3Sink) endPart(abandon error) error {
	cur := s.cur
	s.cur = nil
	res := cur.finish(abandon)
	if abandon != nil {
		return errors.Join(abandon, res.err)
	}
	if res.err != nil {
		return res.err
	}
	s.parts, s.stored = append(s.parts, res.part), s.stored+cur.size
	return nil
}

// partStream is one part being uploaded while its bytes arrive: the
// request's bytes go into a pipe that the S3 client reads as the part's
// body, so a part is never held in memory.
type partStream struct {
	number int
	size   int64
	left   int64
	pw     *io.PipeWriter
	done   chan partResult
}

type partResult struct {
	part minio.CompletePart
	err  error
}

// startPart begins uploading part number of size bytes from a pipe.
func (s *s3Sink) startPart(number int, size int64) *partStream {
	pr, pw := io.Pipe()
	ps := &partStream{number: number, size: size, left: size, pw: pw, done: make(chan partResult, 1)}
	go func() {
		part, err := s.b.putPart(s.ctx, s.key, s.uploadID, number, pr, size)
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
		ps.done <- partResult{part, err}
	}()
	return ps
}

func (ps *partStream) write(p []byte) error {
	n, err := ps.pw.Write(p)
	ps.left -= int64(n)
	return err
}

// finish waits for the part; abandon (err != nil) fails it first.
func (ps *partStream) finish(abandon error) partResult {
	if abandon != nil {
		ps.pw.CloseWithError(abandon)
	} else {
		ps.pw.Close()
	}
	return <-ps.done
}

// putPart uploads one part from r. The payload is not signed
// (UNSIGNED-PAYLOAD: integrity on the wire is TLS's job, as with any
// client), so it is hashed once, for its digest, not a second time for a
// signature. A part on which the backend makes no progress for the
// timeout, while bytes are waiting for it, fails with errStalled.
func (b *s3Backend) putPart(ctx context.Context, key, uploadID string, number int, r io.Reader, size int64) (minio.CompletePart, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := errStalled{b.timeout}
	timer := time.AfterFunc(b.timeout, func() { cancel(stall) })
	defer timer.Stop()
	body := io.Reader(&idleReader{r: r, timer: timer, d: b.timeout})
	if br, ok := r.(*bytes.Reader); ok {
		body = &idleReadSeeker{idleReader{r: r, timer: timer, d: b.timeout}, br} // retryable
	}
	part, err := b.core.PutObjectPart(ctx, b.bucket, key, uploadID, number, body, size, minio.PutObjectPartOptions{DisableContentSha256: true})
	if err != nil {
		if errors.Is(context.Cause(ctx), stall) {
			err = stall
		}
		return minio.CompletePart{}, err
	}
	return minio.CompletePart{PartNumber: number, ETag: part.ETag}, nil
}

// idleReader stops the stall timer while the client waits for bytes (that
// wait is the sender's, not the backend's) and restarts it after.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	i.timer.Stop()
	n, err := i.r.Read(p)
	i.timer.Reset(i.d)
	return n, err
}

type idleReadSeeker struct {
	idleReader
	s io.Seeker
}

func (i *idleReadSeeker) Seek(off int64, whence int) (int64, error) { return i.s.Seek(off, whence) }

// bounded runs a metadata call with the timeout.
func (b *s3Backend) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.timeout)
}
