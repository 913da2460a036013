package berthtest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fault injection for tests of what berth does when its backends fail:
// paused processes keep their connections open but never answer, as a
// hung server or a network partition does.

// Pause stops MinIO (SIGSTOP) until Resume; it returns once the process is
// stopped.
func (m *MinIO) Pause() {
	_ = m.cmd.Process.Signal(syscall.SIGSTOP)
	waitStopped(m.cmd.Process.Pid)
}

// Resume continues a paused MinIO.
func (m *MinIO) Resume() { _ = m.cmd.Process.Signal(syscall.SIGCONT) }

// Pause stops the PostgreSQL server and all its backends (SIGSTOP) until
// Resume: connections stay open, queries never answer.
func (p *Postgres) Pause() { p.signalTree(syscall.SIGSTOP) }

// Resume continues a paused PostgreSQL server.
func (p *Postgres) Resume() { p.signalTree(syscall.SIGCONT) }

func (p *Postgres) signalTree(sig syscall.Signal) {
	pids := append(children(p.cmd.Process.Pid), p.cmd.Process.Pid)
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	if sig == syscall.SIGSTOP {
		for _, pid := range pids {
			waitStopped(pid)
		}
	}
}

// waitStopped waits (up to a second) until every thread of pid is stopped:
// a signal is delivered asynchronously, and a busy thread may run on for a
// moment.
func waitStopped(pid int) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			return
		}
		all := true
		for _, task := range tasks {
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(stat)
			if i := strings.LastIndexByte(s, ')'); i >= 0 {
				if f := strings.Fields(s[i+1:]); len(f) > 0 && f[0] != "T" && f[0] != "t" {
					all = false
					break
				}
			}
		}
		if all {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Restart starts a stopped PostgreSQL server again on the same port and
// data (its databases are kept).
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.Stop()
	if err := p.launch(p.port); err != nil {
		t.Fatal(err)
	}
}

// children lists the direct children of a process, from /proc.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ")".
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			fields := strings.Fields(s[i+1:])
			if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
				out = append(out, child)
			}
		}
	}
	return out
}

// Kill ends the berth process with SIGKILL (no shutdown, no flush) and
// waits for it, as a crash or an OOM kill would.
func (b *Berth) Kill() {
	_ = b.process().Kill()
	<-b.done
}

// Kill ends MinIO with SIGKILL (no graceful end of requests in flight) and
// waits for it; Restart brings it back.
func (m *MinIO) Kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}
