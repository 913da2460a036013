package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// composeCLI runs docker-compose (Debian's docker-compose package) or the
// docker compose plugin on deploy/compose.yaml under a project of its own.
type composeCLI struct {
	t       *testing.T
	cmd     []string
	project string
	env     []string
}

// needCompose finds a compose implementation; without one the test is
// skipped, except under CI=1 (CI installs docker-compose).
func needCompose(t *testing.T, d *docker) *composeCLI {
	t.Helper()
	c := &composeCLI{t: t, project: "berthe2e" + randomName()}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		c.cmd = []string{p}
	} else if exec.Command(d.bin, "compose", "version").Run() == nil {
		c.cmd = []string{d.bin, "compose"}
	} else if os.Getenv("CI") != "" {
		t.Fatal("no docker-compose (.ci/tools.sh installs Debian's docker-compose)")
	} else {
		t.Skip("no docker-compose and no docker compose plugin: compose file not tested")
	}
	return c
}

func (c *composeCLI) run(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := append(append([]string{}, c.cmd[1:]...), "--file", filepath.Join(berthtest.Root(c.t), "deploy", "compose.yaml"), "--project-name", c.project)
	cmd := exec.CommandContext(ctx, c.cmd[0], append(all, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *composeCLI) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestCompose brings deploy/compose.yaml up as a user would (with the
// image make image builds, and stand-ins for the MinIO and PostgreSQL
// images built from the machine's own MinIO and PostgreSQL, as nothing can
// be pulled), pushes and pulls with crane through the published port,
// checks the index with `berth check` in a one-off container, stops berth
// (SIGTERM, exit 0) and starts it again on the same volumes.
func TestCompose(t *testing.T) {
	d := needDocker(t)
	c := needCompose(t, d)
	port := berthtest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c.env = []string{
		"BERTH_IMAGE=" + berthImage(t, d),
		"MINIO_IMAGE=" + minioImage(t, d),
		"POSTGRES_IMAGE=" + postgresImage(t, d),
		"BERTH_PORT=" + addr,
		"BERTH_ADMIN_PASSWORD=" + berthtest.AdminPassword,
		"MINIO_ROOT_PASSWORD=minio-Passw0rd",
		"POSTGRES_PASSWORD=postgresPassw0rd",
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run("logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := c.run("down", "--volumes", "--timeout", "5"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	c.must("up", "--detach")
	waitComposeReady(t, c, addr)
	if top := c.must("top", "postgres"); !strings.Contains(top, "backend_flush_after=256kB") {
		t.Errorf("postgres runs without the compose file's settings:\n%s", top)
	}
	berthtest.RememberCredentials(t, addr, "admin", berthtest.AdminPassword)
	digest := cranePushPull(t, addr+"/library/composed:v1")

	if out, err := c.run("run", "--rm", "--no-deps", "berth", "check"); err != nil || !strings.Contains(out, "the index matches storage") {
		t.Errorf("berth check in a one-off container: %v\n%s", err, out)
	}

	id := strings.TrimSpace(c.must("ps", "--quiet", "berth"))
	ct := &container{d: d, Name: id, Addr: addr}
	checkNonRoot(t, ct, true)
	start := time.Now()
	c.must("stop", "berth")
	elapsed := time.Since(start)
	if st := ct.state(); st.Running || st.ExitCode != 0 {
		t.Errorf("berth after compose stop: running %v, exit code %d", st.Running, st.ExitCode)
	}
	if logs := ct.logs(); !strings.Contains(logs, "draining requests in flight") {
		t.Errorf("no drain in the log:\n%s", logs)
	}
	t.Logf("compose stop berth: %s", elapsed.Round(time.Millisecond))

	c.must("up", "--detach", "berth")
	waitComposeReady(t, c, addr)
	if got := strings.TrimSpace(berthtest.Output(t, berthtest.Tool(t, "crane"), "digest", "--insecure", addr+"/library/composed:v1")); got != digest {
		t.Errorf("after a restart: digest %s, want %s", got, digest)
	}
}

// waitComposeReady waits for berth's /readyz through the published port
// (berth restarts until MinIO and PostgreSQL answer).
func waitComposeReady(t *testing.T, c *composeCLI, addr string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			out, _ := c.run("ps")
			t.Fatalf("berth not ready on %s within 2 minutes: %v\n%s", addr, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
