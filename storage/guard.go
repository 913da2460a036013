package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	storagemiddleware "github.com/distribution/distribution/v3/registry/storage/driver/middleware"
)

// GuardMiddleware is the name under which the guard is registered as a
// distribution storage middleware, so distribution's own driver instance is
// guarded exactly like berth's.
const GuardMiddleware = "berth-guard"

func init() {
	// Registration is distribution's own hook; it fails only on a duplicate name.
	_ = storagemiddleware.Register(GuardMiddleware, func(_ context.Context, d storagedriver.StorageDriver, opts map[string]any) (storagedriver.StorageDriver, error) {
		t, err := time.ParseDuration(fmt.Sprint(opts["timeout"]))
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("%s: bad timeout %v", GuardMiddleware, opts["timeout"])
		}
		g := Guard(d, t).(*guard)
		if root, ok := opts["fsroot"].(string); ok && root != "" {
			g.root = root
		}
		return g, nil
	})
}

// Guard wraps a driver so that metadata calls give up after timeout and any
// failure to reach the backend is recorded on the request (see
// WithUnavailableMark), letting the HTTP layer answer 503 instead of 500.
func Guard(d storagedriver.StorageDriver, timeout time.Duration) storagedriver.StorageDriver {
	if g, ok := d.(*guard); ok {
		d = g.StorageDriver
	}
	return &guard{StorageDriver: d, timeout: timeout}
}

type guard struct {
	storagedriver.StorageDriver
	timeout time.Duration
	root    string // the filesystem driver's root ("": another backend)
}

func (g *guard) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}

func (g *guard) GetContent(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := g.bounded(ctx)
	defer cancel()
	b, err := g.StorageDriver.GetContent(ctx, path)
	if err == nil && g.root != "" && tornLink(path, b) {
		// Written without a sync and cut short by a power loss (see
		// deferred.go): absent, as it was before its write began.
		return nil, storagedriver.PathNotFoundError{Path: path, DriverName: g.Name()}
	}
	return b, observe(ctx, err)
}

func (g *guard) PutContent(ctx context.Context, path string, content []byte) error {
	ctx, cancel := g.bounded(ctx)
	defer cancel()
	if g.root != "" && deferring(ctx) {
		return observe(ctx, g.putDeferred(ctx, path, content))
	}
	return observe(ctx, g.StorageDriver.PutContent(ctx, path, content))
}

func (g *guard) Stat(ctx context.Context, path string) (storagedriver.FileInfo, error) {
	ctx, cancel := g.bounded(ctx)
	defer cancel()
	fi, err := g.StorageDriver.Stat(ctx, path)
	return fi, observe(ctx, err)
}

func (g *guard) List(ctx context.Context, path string) ([]string, error) {
	ctx, cancel := g.bounded(ctx)
	defer cancel()
	l, err := g.StorageDriver.List(ctx, path)
	return l, observe(ctx, err)
}

func (g *guard) Walk(ctx context.Context, path string, f storagedriver.WalkFn, options ...func(*storagedriver.WalkOptions)) error {
	return observe(ctx, g.StorageDriver.Walk(ctx, path, f, options...))
}

func (g *guard) Delete(ctx context.Context, path string) error {
	return observe(ctx, g.StorageDriver.Delete(ctx, path))
}

func (g *guard) Move(ctx context.Context, src, dst string) error {
	return observe(ctx, g.StorageDriver.Move(ctx, src, dst))
}

// Reader bounds the time to open the stream, not the time to read it: a
// 1 GiB layer may take minutes to send, but the backend must answer promptly.
func (g *guard) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(g.timeout, cancel)
	rc, err := g.StorageDriver.Reader(ctx, path, offset)
	if !timer.Stop() {
		// The timer fired (the backend did not answer in time; the driver
		// saw a cancelled context), or fired as the open returned: the
		// stream is dead either way.
		if err == nil {
			_ = rc.Close()
		}
		err = fmt.Errorf("storage did not answer within %s: %w", g.timeout, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return nil, observe(ctx, err)
	}
	return &cancelOnClose{ReadCloser: rc, cancel: cancel}, nil
}

func (g *guard) Writer(ctx context.Context, path string, append bool) (storagedriver.FileWriter, error) {
	w, err := g.StorageDriver.Writer(ctx, path, append)
	if err != nil {
		return nil, observe(ctx, err)
	}
	return &observedWriter{FileWriter: w, ctx: ctx}, nil
}

// observedWriter records on the request a full disk or an unreachable
// backend met while an upload is written.
type observedWriter struct {
	storagedriver.FileWriter
	ctx context.Context
}

func (w *observedWriter) Write(p []byte) (int, error) {
	n, err := w.FileWriter.Write(p)
	return n, observe(w.ctx, err)
}

func (w *observedWriter) Commit(ctx context.Context) error {
	return observe(w.ctx, w.FileWriter.Commit(ctx))
}

func (w *observedWriter) Close() error { return observe(w.ctx, w.FileWriter.Close()) }

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// IsUnavailable reports whether err means the backend did not answer
// (refused connection, timeout, DNS failure) rather than answered "no".
func IsUnavailable(err error) bool {
	for depth := 0; err != nil && depth < 16; depth++ {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) {
			return true
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true
		}
		var oe *net.OpError
		var de *net.DNSError
		if errors.As(err, &oe) || errors.As(err, &de) {
			return true
		}
		// aws-sdk-go v1 errors carry the cause in OrigErr, not Unwrap.
		if o, ok := err.(interface{ OrigErr() error }); ok && o.OrigErr() != nil {
			err = o.OrigErr()
			continue
		}
		if se, ok := err.(storagedriver.Error); ok {
			err = se.Detail
			continue
		}
		break
	}
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "RequestCanceled", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
