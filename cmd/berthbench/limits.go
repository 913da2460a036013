package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// limits are what the machine allows a push, measured in the same run as
// the servers (once per round, so they see the same load): one SHA-256
// pass, which every byte of a push needs, and a durable sequential write.
type limits struct {
	sha256   float64 // MB/s of one core hashing, per CPU second
	disk     float64 // MB/s written and made durable: the faster of the two ways below
	buffered float64 // through the page cache
	direct   float64 // with O_DIRECT (0: the filesystem refuses it)
}

// shaPassCPU is the CPU seconds one SHA-256 pass over a GB takes.
func (l limits) shaPassCPU() float64 { return 1e3 / l.sha256 }

// pushLimit is the most n concurrent pushes could move on this machine:
// each byte hashed once (one core per push, at most the machine's cores)
// and written once.
func (l limits) pushLimit(n int) float64 {
	return min(l.sha256*float64(min(n, runtime.NumCPU())), l.disk)
}

// measureLimits measures both ways to write a push's bytes (a server may
// use either): on a VM whose freed memory goes back to the host, writes
// through the page cache swing with what the host has to supply again,
// while direct writes measure the disk.
func measureLimits(dir string) (limits, error) {
	sha := measureSHA256()
	buffered, err := measureDisk(dir, false)
	if err != nil {
		return limits{}, err
	}
	direct, err := measureDisk(dir, true)
	if err != nil {
		direct = 0 // the filesystem refuses O_DIRECT (tmpfs)
	}
	return limits{sha256: sha, disk: max(buffered, direct), buffered: buffered, direct: direct}, nil
}

// measureSHA256 hashes 1 MiB buffers for 256 MiB on one locked thread and
// divides by that thread's CPU time, not the wall time: on a shared host
// the rate of a core, not the share of one this process got.
func measureSHA256() float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 31)
	}
	h := sha256.New()
	h.Write(buf) // warm
	const total = 256 << 20
	t0 := threadCPU()
	for n := 0; n < total; n += len(buf) {
		h.Write(buf)
	}
	return float64(total) / 1e6 / (threadCPU() - t0).Seconds()
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureDisk writes 512 MiB sequentially into a new file in dir (blocks
// allocated first, 1 MiB writes, fdatasync at the end) and returns MB/s
// over the whole, fdatasync included: through the page cache with
// writeback started as it goes, or with O_DIRECT (direct; an error when
// the filesystem refuses it).
func measureDisk(dir string, direct bool) (float64, error) {
	const total = 512 << 20
	f, err := os.CreateTemp(dir, "disk-rate-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if direct {
		df, err := os.OpenFile(f.Name(), os.O_WRONLY|unix.O_DIRECT, 0)
		if err != nil {
			return 0, err
		}
		defer df.Close()
		f = df
	}
	// Aligned in memory, as O_DIRECT needs.
	raw := make([]byte, 1<<20+4096)
	off0 := int(-uintptr(unsafe.Pointer(&raw[0])) & 4095)
	buf := raw[off0 : off0+1<<20]
	for i := range buf {
		buf[i] = byte(i*7 + i>>11)
	}
	syscall.Sync()
	start := time.Now()
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, total)
	var synced int64
	for off := int64(0); off < total; off += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if end := off + int64(len(buf)); !direct && end-synced >= 8<<20 {
			_ = unix.SyncFileRange(int(f.Fd()), synced, end-synced, unix.SYNC_FILE_RANGE_WRITE)
			synced = end
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return 0, err
	}
	return total / 1e6 / time.Since(start).Seconds(), nil
}

// limitsNote describes the limits of a run for the report.
func limitsNote(ls []limits) string {
	var sha, disk, buffered, direct []float64
	for _, l := range ls {
		sha, disk = append(sha, l.sha256), append(disk, l.disk)
		buffered, direct = append(buffered, l.buffered), append(direct, l.direct)
	}
	directNote := fmtNum(median(direct)) + " MB/s with O_DIRECT"
	if median(direct) == 0 {
		directNote = "the filesystem refuses O_DIRECT"
	}
	return fmt.Sprintf("machine limits, median of %d measurements made between the rounds: SHA-256 %s MB/s per core"+
		" (CPU time of one thread: one pass costs %s s of CPU per GB); durable sequential write %s MB/s, the faster of"+
		" two ways of writing 512 MiB into the work directory (preallocated, 1 MiB writes, fdatasync): %s MB/s through the page cache"+
		" (writeback started every 8 MiB) and %s."+
		" The limit of a push is min(SHA-256 rate × min(clients, cores), write rate); of its server CPU, one SHA-256 pass",
		len(ls), fmtNum(median(sha)), fmtNum(1e3/median(sha)), fmtNum(median(disk)), fmtNum(median(buffered)), directNote)
}
