package berthtest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a real Redis server (Debian's redis-server) started for a test:
// on a free loopback port, in memory only (no RDB snapshots, no AOF).
type Redis struct {
	Addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
}

// StartRedis runs redis-server for this test and waits until it answers
// PING. It is stopped when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := Tool(t, "redis-server")
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(FreePort(t)), done: make(chan struct{}), logs: &syncBuffer{}}
		_, port, _ := net.SplitHostPort(r.Addr)
		r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--logfile", "")
		r.cmd.Env = cleanEnv()
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
		if err := r.cmd.Start(); err != nil {
			t.Fatalf("redis: %v", err)
		}
		go func() { _ = r.cmd.Wait(); close(r.done) }()
		err := r.waitReady(30 * time.Second)
		if err == nil {
			t.Cleanup(func() {
				r.Stop()
				if t.Failed() {
					t.Logf("redis logs:\n%s", tail(r.logs.String(), 30))
				}
			})
			return r
		}
		r.Stop()
		// FreePort can race with other processes: retry on a new port.
		if attempt < 2 && strings.Contains(r.logs.String(), "Address already in use") {
			continue
		}
		t.Fatalf("redis: %v\n%s", err, r.logs.String())
	}
}

func (r *Redis) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		reply, err := r.Do("PING")
		if err == nil && reply == "+PONG" {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("redis-server exited before answering")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer PING within %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Do sends one inline command and returns the first line of the reply
// ("+PONG", ":12", "-ERR ..."), enough for PING, DBSIZE and FLUSHALL.
func (r *Redis) Do(command string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.Addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s\r\n", command); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Keys returns the number of keys in database 0 (DBSIZE).
func (r *Redis) Keys(t testing.TB) int {
	t.Helper()
	reply, err := r.Do("DBSIZE")
	n, perr := strconv.Atoi(strings.TrimPrefix(reply, ":"))
	if err != nil || !strings.HasPrefix(reply, ":") || perr != nil {
		t.Fatalf("redis DBSIZE: %q %v", reply, err)
	}
	return n
}

// Stop terminates the server and waits for it.
func (r *Redis) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Env returns the BERTH_* settings that make berth's blob-descriptor cache
// use this server.
func (r *Redis) Env() []string {
	return []string{"BERTH_CACHE=redis", "BERTH_REDIS_ADDR=" + r.Addr}
}
