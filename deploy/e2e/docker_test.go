package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// dockerWait bounds how long the tests wait for the engine to answer: CI
// starts it (.ci/dockerd.sh) in the background just before the tests.
// Elsewhere an engine that is not up within a few seconds is taken as none.
func dockerWait() time.Duration {
	if os.Getenv("CI") != "" {
		return 2 * time.Minute
	}
	return 10 * time.Second
}

// docker runs the docker client against the local engine.
type docker struct {
	t   *testing.T
	bin string
}

var (
	engineOnce    sync.Once
	engineBin     string
	engineMissing string // why there is no engine, or ""
)

// needDocker returns a docker client whose engine answers (asked once per
// test binary). Without one the test is skipped, except under CI=1 where
// it fails: CI installs docker.io and starts the engine, so a missing one
// is a broken CI.
func needDocker(t *testing.T) *docker {
	t.Helper()
	engineOnce.Do(func() {
		bin, err := exec.LookPath("docker")
		if err != nil {
			engineMissing = "no docker client on $PATH"
			return
		}
		wait := dockerWait()
		deadline := time.Now().Add(wait)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, err := exec.CommandContext(ctx, bin, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
			cancel()
			if err == nil && strings.TrimSpace(string(out)) != "" {
				engineBin = bin
				return
			}
			if time.Now().After(deadline) {
				engineMissing = fmt.Sprintf("the docker engine did not answer within %s: %v: %s", wait, err, strings.TrimSpace(string(out)))
				return
			}
			time.Sleep(time.Second)
		}
	})
	if engineMissing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(engineMissing + " (CI: .ci/tools.sh installs docker.io, .ci/dockerd.sh starts it)")
		}
		t.Skip(engineMissing + ": container tests not run")
	}
	return &docker{t: t, bin: engineBin}
}

// run runs a docker command and fails the test if it fails.
func (d *docker) run(args ...string) string {
	d.t.Helper()
	out, err := d.runErr(args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs a docker command (bounded to five minutes) and returns its
// combined output.
func (d *docker) runErr(args ...string) (string, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_CLI_HINTS=false")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// inspect decodes `docker <kind> inspect` of one object into v.
func (d *docker) inspect(kind, name string, v any) {
	d.t.Helper()
	var list []json.RawMessage
	out := d.run(kind, "inspect", name)
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		d.t.Fatalf("docker %s inspect %s: %v\n%s", kind, name, err, out)
	}
	if err := json.Unmarshal(list[0], v); err != nil {
		d.t.Fatalf("docker %s inspect %s: %v", kind, name, err)
	}
}

var (
	imageMu    sync.Mutex
	imageBuilt string
	imageErr   error
	imageNames []string
)

// berthImage builds the image once per test binary with `make image`, as a
// user would, under a tag of its own (removed when the tests end).
func berthImage(t *testing.T, d *docker) string {
	t.Helper()
	imageMu.Lock()
	defer imageMu.Unlock()
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	if imageBuilt != "" {
		return imageBuilt
	}
	name := "berth-e2e:" + randomName()
	cmd := exec.Command("make", "image", "IMAGE="+name)
	cmd.Dir = berthtest.Root(t)
	// A clean make: not the jobserver of a make that may be running go test.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	imageNames = append(imageNames, name)
	if err != nil {
		imageErr = fmt.Errorf("make image: %v\n%s", err, out)
		t.Fatal(imageErr)
	}
	t.Logf("make image IMAGE=%s: %s", name, time.Since(start).Round(100*time.Millisecond))
	imageBuilt = name
	return name
}

// removeImages deletes the images the tests built.
func removeImages() {
	imageMu.Lock()
	defer imageMu.Unlock()
	bin, err := exec.LookPath("docker")
	if err != nil {
		return
	}
	for _, name := range imageNames {
		_ = exec.Command(bin, "rmi", "--force", name).Run()
	}
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// container is a berth container on the host network, listening on a free
// loopback port.
type container struct {
	d    *docker
	Name string
	Addr string // 127.0.0.1:PORT
}

// URL returns http://addr + path.
func (c *container) URL(path string) string { return "http://" + c.Addr + path }

// runOptions configure a berth container.
type runOptions struct {
	Env   []string // KEY=VALUE
	Flags []string // docker run flags (volumes, --read-only, ...)
	// ShutdownTimeout is BERTH_SHUTDOWN_TIMEOUT (default 10s).
	ShutdownTimeout time.Duration
}

// startBerth runs the image's default command (`berth serve`) with
// BERTH_ADDR on a free loopback port and waits until /readyz answers 200.
// The admin password is berthtest.AdminPassword, remembered for the
// client tools. The container and its anonymous volumes are removed when
// the test ends.
func (d *docker) startBerth(t *testing.T, image string, opts runOptions) *container {
	t.Helper()
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	c := &container{d: d, Name: "berth-e2e-" + randomName(), Addr: "127.0.0.1:" + strconv.Itoa(berthtest.FreePort(t))}
	args := []string{"run", "--detach", "--name", c.Name, "--network", "host",
		"--env", "BERTH_ADDR=" + c.Addr,
		"--env", "BERTH_ADMIN_PASSWORD=" + berthtest.AdminPassword,
		"--env", "BERTH_LOG_FORMAT=json",
		"--env", "BERTH_SHUTDOWN_TIMEOUT=" + opts.ShutdownTimeout.String()}
	for _, kv := range opts.Env {
		args = append(args, "--env", kv)
	}
	args = append(append(args, opts.Flags...), image)
	d.run(args...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := d.runErr("logs", "--tail", "60", c.Name)
			t.Logf("logs of container %s:\n%s", c.Name, out)
		}
		_, _ = d.runErr("rm", "--force", "--volumes", c.Name)
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(c.URL("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if st := c.state(); !st.Running {
			t.Fatalf("container %s exited (%d) before it was ready:\n%s", c.Name, st.ExitCode, c.logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not ready within 60s: %v\n%s", c.Name, err, c.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	berthtest.RememberCredentials(t, c.Addr, "admin", berthtest.AdminPassword)
	return c
}

type containerState struct {
	Running  bool
	Pid      int
	ExitCode int
}

func (c *container) state() containerState {
	c.d.t.Helper()
	var v struct{ State containerState }
	c.d.inspect("container", c.Name, &v)
	return v.State
}

func (c *container) logs() string {
	out, _ := c.d.runErr("logs", c.Name)
	return out
}

// terminate sends SIGTERM, as `docker stop` and the kubelet do, and waits
// (at most a minute) for the container to exit. It returns the exit code
// and how long the exit took.
func (c *container) terminate(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	c.d.run("kill", "--signal", "TERM", c.Name)
	return c.wait(t, start)
}

// wait waits for the container to exit and returns its exit code and the
// time since start.
func (c *container) wait(t *testing.T, start time.Time) (int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.d.bin, "wait", c.Name).CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("docker wait %s: %v (after %s)\n%s", c.Name, err, elapsed, out)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("docker wait %s: %q", c.Name, out)
	}
	return code, elapsed
}

// procStatus reads the lines of /proc/<pid>/status of the container's
// main process (as the host sees it) that start with the given keys.
func (c *container) procStatus(t *testing.T, keys ...string) map[string]string {
	t.Helper()
	st := c.state()
	if !st.Running || st.Pid == 0 {
		t.Fatalf("container %s is not running", c.Name)
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(st.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, want := range keys {
			if k == want {
				got[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return got
}

// berthCommand runs another berth subcommand (check, reindex) in a fresh
// container of the image with the given docker flags and environment, and
// returns its exit code and output.
func (d *docker) berthCommand(image string, flags, env []string, args ...string) (int, string) {
	d.t.Helper()
	all := []string{"run", "--rm", "--network", "host"}
	for _, kv := range env {
		all = append(all, "--env", kv)
	}
	all = append(append(append(all, flags...), image), args...)
	out, err := d.runErr(all...)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out
	} else if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return 0, out
}
