package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// limits are what the machine allows a push, measured in the same run as
// the servers (once per round, so they see the same load): one SHA-256
// pass, which every byte of a push needs, and a durable sequential write.
type limits struct {
	sha256 float64 // MB/s of one core hashing, per CPU second
	disk   float64 // MB/s written and made durable
}

// shaPassCPU is the CPU seconds one SHA-256 pass over a GB takes.
func (l limits) shaPassCPU() float64 { return 1e3 / l.sha256 }

// pushLimit is the most n concurrent pushes could move on this machine:
// each byte hashed once (one core per push, at most the machine's cores)
// and written once.
func (l limits) pushLimit(n int) float64 {
	return min(l.sha256*float64(min(n, runtime.NumCPU())), l.disk)
}

func measureLimits(dir string) (limits, error) {
	sha := measureSHA256()
	disk, err := measureDisk(dir)
	return limits{sha256: sha, disk: disk}, err
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
// allocated first, 1 MiB writes through the page cache, writeback started
// as it goes, fdatasync at the end: the fastest durable write this
// filesystem offers) and returns MB/s over the whole, fdatasync included.
func measureDisk(dir string) (float64, error) {
	const total = 512 << 20
	f, err := os.CreateTemp(dir, "disk-rate-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1<<20)
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
		if end := off + int64(len(buf)); end-synced >= 8<<20 {
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
	var sha, disk []float64
	for _, l := range ls {
		sha, disk = append(sha, l.sha256), append(disk, l.disk)
	}
	return fmt.Sprintf("machine limits, median of %d measurements made between the rounds: SHA-256 %s MB/s per core"+
		" (CPU time of one thread: one pass costs %s s of CPU per GB); durable sequential write %s MB/s"+
		" (512 MiB into the work directory: preallocated, 1 MiB writes, writeback started every 8 MiB, fdatasync)."+
		" The limit of a push is min(SHA-256 rate × min(clients, cores), write rate); of its server CPU, one SHA-256 pass",
		len(ls), fmtNum(median(sha)), fmtNum(1e3/median(sha)), fmtNum(median(disk)))
}
