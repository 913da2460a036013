package storage

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// Fault is why a request failed for reasons of the infrastructure rather
// than of the request: what the HTTP layer answers instead of a 500.
type Fault int32

// Faults, in increasing precedence.
const (
	NoFault     Fault = iota
	Unavailable       // a backend (storage, database) did not answer: 503
	Full              // a disk (storage, database) is full: 507
)

type faultKey struct{}

// mark is what a request's context records: the worst fault of storage
// and of the metadata database, apart (for metrics).
type mark struct{ storage, database atomic.Int32 }

func (m *mark) worst() Fault { return max(Fault(m.storage.Load()), Fault(m.database.Load())) }

// WithFaultMark returns a context in which guarded drivers, and the
// database callers that see their errors, record infrastructure faults,
// and a function that reports the worst recorded.
func WithFaultMark(ctx context.Context) (context.Context, func() Fault) {
	m := new(mark)
	return context.WithValue(ctx, faultKey{}, m), m.worst
}

// FaultOf reports the worst fault recorded in ctx (see WithFaultMark); a
// context without a mark reports NoFault.
func FaultOf(ctx context.Context) func() Fault {
	m, ok := ctx.Value(faultKey{}).(*mark)
	if !ok {
		return func() Fault { return NoFault }
	}
	return m.worst
}

// FaultsBy reports the worst fault recorded in ctx of storage and of the
// metadata database, each.
func FaultsBy(ctx context.Context) (storage, database Fault) {
	m, ok := ctx.Value(faultKey{}).(*mark)
	if !ok {
		return NoFault, NoFault
	}
	return Fault(m.storage.Load()), Fault(m.database.Load())
}

// WithUnavailableMark is WithFaultMark reporting whether any fault happened.
func WithUnavailableMark(ctx context.Context) (context.Context, func() bool) {
	ctx, fault := WithFaultMark(ctx)
	return ctx, func() bool { return fault() != NoFault }
}

// Mark records a fault of storage on the request ctx belongs to.
func Mark(ctx context.Context, f Fault) {
	if m, ok := ctx.Value(faultKey{}).(*mark); ok {
		raise(&m.storage, f)
	}
}

// MarkDatabase records a fault of the metadata database on the request
// ctx belongs to.
func MarkDatabase(ctx context.Context, f Fault) {
	if m, ok := ctx.Value(faultKey{}).(*mark); ok {
		raise(&m.database, f)
	}
}

func raise(flag *atomic.Int32, f Fault) {
	for {
		old := flag.Load()
		if Fault(old) >= f || flag.CompareAndSwap(old, int32(f)) {
			return
		}
	}
}

// observe records on the request what kind of fault err is, if any.
func observe(ctx context.Context, err error) error {
	switch {
	case err == nil:
	case IsFull(err):
		Mark(ctx, Full)
	case IsUnavailable(err):
		Mark(ctx, Unavailable)
	}
	return err
}

// IsFull reports whether err means a disk is full (or a quota of the
// backend's own is exhausted).
func IsFull(err error) bool {
	for depth := 0; err != nil && depth < 16; depth++ {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return true
		}
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
	for _, s := range []string{"no space left on device", "disk quota exceeded", "XMinioStorageFull", "Storage backend has reached its minimum free drive threshold"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Observe records on ctx what kind of fault err is, if any, for storage
// calls made outside a guarded driver (berth's own upload writer); it
// returns err.
func Observe(ctx context.Context, err error) error { return observe(ctx, err) }
