package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/hex"
	"encoding/pem"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

const berthUID = "65532"

// The image holds the static binary, the CA bundle, passwd/group with the
// berth user, /tmp and the data volume, nothing else, and its defaults
// serve on 0.0.0.0:5000 with state in /var/lib/berth as that user.
func TestImageContents(t *testing.T) {
	d := needDocker(t)
	img := berthImage(t, d)

	var meta struct {
		Size   int64
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Env          []string
			WorkingDir   string
			Volumes      map[string]struct{}
			ExposedPorts map[string]struct{}
			Labels       map[string]string
		}
	}
	d.inspect("image", img, &meta)
	cfg := meta.Config
	if cfg.User != berthUID+":"+berthUID {
		t.Errorf("User = %q, want %s:%s", cfg.User, berthUID, berthUID)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/usr/local/bin/berth"}) || !slices.Equal(cfg.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %q Cmd %q, want [/usr/local/bin/berth] [serve]", cfg.Entrypoint, cfg.Cmd)
	}
	for _, kv := range []string{"BERTH_ADDR=0.0.0.0:5000", "BERTH_DATA_DIR=/var/lib/berth"} {
		if !slices.Contains(cfg.Env, kv) {
			t.Errorf("Env %q lacks %s", cfg.Env, kv)
		}
	}
	if _, ok := cfg.Volumes["/var/lib/berth"]; !ok || len(cfg.Volumes) != 1 {
		t.Errorf("Volumes = %v, want /var/lib/berth", cfg.Volumes)
	}
	if _, ok := cfg.ExposedPorts["5000/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v, want 5000/tcp", cfg.ExposedPorts)
	}
	if cfg.Labels["org.opencontainers.image.title"] != "berth" || cfg.Labels["org.opencontainers.image.revision"] == "" {
		t.Errorf("labels = %v", cfg.Labels)
	}

	// The file system, flattened (docker adds /dev, /proc, /sys and a few
	// files in /etc to every container; they are not in the image).
	id := strings.TrimSpace(d.run("create", img))
	defer d.runErr("rm", "--volumes", id)
	tarball := filepath.Join(t.TempDir(), "fs.tar")
	d.run("export", "--output", tarball, id)
	runtime := map[string]bool{".dockerenv": true, "etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true, "etc/mtab": true}
	type entry struct {
		mode     int64
		uid, gid int
		typ      byte
		data     []byte
	}
	got := map[string]entry{}
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		top, _, _ := strings.Cut(name, "/")
		if runtime[name] || top == "dev" || top == "proc" || top == "sys" {
			continue
		}
		e := entry{mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, typ: h.Typeflag}
		if h.Typeflag == tar.TypeReg {
			if e.data, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		got[name] = e
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"etc", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt",
		"tmp", "usr", "usr/local", "usr/local/bin", "usr/local/bin/berth", "var", "var/lib", "var/lib/berth"}
	if !slices.Equal(names, want) {
		t.Errorf("image files:\n  %s\nwant:\n  %s", strings.Join(names, "\n  "), strings.Join(want, "\n  "))
	}
	if e := got["var/lib/berth"]; e.typ != tar.TypeDir || e.uid != 65532 || e.gid != 65532 {
		t.Errorf("/var/lib/berth: type %c owner %d:%d, want a directory owned by 65532:65532", e.typ, e.uid, e.gid)
	}
	if e := got["tmp"]; e.typ != tar.TypeDir || e.mode != 0o1777 {
		t.Errorf("/tmp: type %c mode %o, want a directory with mode 1777", e.typ, e.mode)
	}
	bin := got["usr/local/bin/berth"]
	if bin.uid != 0 || bin.mode != 0o755 {
		t.Errorf("berth binary: owner %d mode %o, want root 755", bin.uid, bin.mode)
	}
	// Static: no program interpreter (a scratch image has no libc).
	ef, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("berth binary: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("berth binary is dynamically linked")
		}
	}
	// The very binary make image built.
	if local := readFile(t, filepath.Join(berthtest.Root(t), "bin", "berth")); !bytes.Equal(local, bin.data) {
		t.Error("the image's berth differs from bin/berth")
	}
	if !strings.Contains(string(got["etc/passwd"].data), "berth:x:65532:65532:") ||
		!strings.Contains(string(got["etc/group"].data), "berth:x:65532:") {
		t.Errorf("passwd/group lack the berth user:\n%s%s", got["etc/passwd"].data, got["etc/group"].data)
	}
	// The CA bundle parses, certificate by certificate.
	certs, rest := 0, got["etc/ssl/certs/ca-certificates.crt"].data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("CA bundle: %v", err)
		}
		certs++
	}
	if certs < 50 {
		t.Errorf("CA bundle holds %d certificates, want Debian's full set", certs)
	}
	t.Logf("image %s: %.1f MB, %d CA certificates", img, float64(meta.Size)/1e6, certs)

	// Every subcommand sees the image's settings.
	code, out := d.berthCommand(img, nil, nil, "config")
	if code != 0 || !regexpLine(out, `^addr\s+BERTH_ADDR\s+0\.0\.0\.0:5000$`) || !regexpLine(out, `^dataDir\s+BERTH_DATA_DIR\s+/var/lib/berth$`) {
		t.Errorf("berth config in the image: exit %d\n%s", code, out)
	}
}

// A container on filesystem storage in a named volume: crane pushes and
// pulls, it runs as the berth user without capabilities, SIGTERM drains an
// upload in flight and exits 0 within the shutdown timeout, `berth check`
// finds the volume consistent, and a new container on the volume serves
// the same image.
func TestImageFilesystemStorage(t *testing.T) {
	d := needDocker(t)
	img := berthImage(t, d)
	vol := "berth-e2e-" + randomName()
	d.run("volume", "create", vol)
	t.Cleanup(func() { _, _ = d.runErr("volume", "rm", "--force", vol) })
	volume := []string{"--volume", vol + ":/var/lib/berth"}

	c := d.startBerth(t, img, runOptions{Flags: volume})
	checkNonRoot(t, c, false)
	ref := c.Addr + "/library/hello:v1"
	digest := cranePushPull(t, ref)

	code, elapsed := terminateDuringUpload(t, c, 10*time.Second)
	if code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, c.logs())
	}

	if code, out := d.berthCommand(img, volume, nil, "check"); code != 0 || !strings.Contains(out, "the index matches storage") {
		t.Errorf("berth check on the volume: exit %d\n%s", code, out)
	}
	c2 := d.startBerth(t, img, runOptions{Flags: volume})
	if got := strings.TrimSpace(berthtest.Output(t, berthtest.Tool(t, "crane"), "digest", "--insecure", c2.Addr+"/library/hello:v1")); got != digest {
		t.Errorf("after a restart on the volume: digest %s, want %s", got, digest)
	}
	t.Logf("SIGTERM to exit: %s (shutdown timeout 10s)", elapsed.Round(time.Millisecond))
}

// A container on MinIO and PostgreSQL (processes on 127.0.0.1), run as the
// Helm chart runs it: read-only root file system, every capability dropped,
// no privilege escalation, /tmp and the data directory on tmpfs. crane
// pushes and pulls, a chart upload (spooled through /tmp) is served by the
// chart repository, SIGTERM exits 0, and `berth check` agrees.
func TestImageMinIOPostgres(t *testing.T) {
	d := needDocker(t)
	img := berthImage(t, d)
	minio := berthtest.StartMinIO(t)
	env := append(minio.Env("berth-image"), "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t))
	hardened := []string{"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/var/lib/berth:rw,uid=65532,gid=65532,mode=0700"}

	c := d.startBerth(t, img, runOptions{Env: env, Flags: hardened})
	checkNonRoot(t, c, true)
	digest := cranePushPull(t, c.Addr+"/library/on-minio:v1")

	chart := tarGz(t, map[string]string{
		"mini/Chart.yaml":        "apiVersion: v2\nname: mini\nversion: 0.1.0\n",
		"mini/values.yaml":       "{}\n",
		"mini/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-mini\n",
	})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("chart", "mini-0.1.0.tgz")
	_, _ = fw.Write(chart)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.URL("/api/chartrepo/library/charts"), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if code, out := httpStatus(t, req); code != http.StatusCreated {
		t.Fatalf("chart upload on a read-only root: %d %s", code, out)
	}
	req, _ = http.NewRequest(http.MethodGet, c.URL("/chartrepo/library/index.yaml"), nil)
	if code, out := httpStatus(t, req); code != http.StatusOK || !strings.Contains(out, "mini") {
		t.Errorf("index.yaml after the upload: %d\n%s", code, out)
	}

	code, elapsed := c.terminate(t)
	if code != 0 || elapsed >= 10*time.Second {
		t.Errorf("SIGTERM: exit code %d after %s, want 0 within the 10s shutdown timeout\n%s", code, elapsed, c.logs())
	}
	if logs := c.logs(); !strings.Contains(logs, "draining requests in flight") || strings.Contains(logs, "shutdown timeout reached") {
		t.Errorf("shutdown log:\n%s", logs)
	}
	t.Logf("SIGTERM to exit: %s", elapsed.Round(time.Millisecond))

	if code, out := d.berthCommand(img, hardened, env, "check"); code != 0 || !strings.Contains(out, "the index matches storage") {
		t.Errorf("berth check on MinIO and PostgreSQL: exit %d\n%s", code, out)
	}
	c2 := d.startBerth(t, img, runOptions{Env: env, Flags: hardened})
	if got := strings.TrimSpace(berthtest.Output(t, berthtest.Tool(t, "crane"), "digest", "--insecure", c2.Addr+"/library/on-minio:v1")); got != digest {
		t.Errorf("a second container on the same MinIO and PostgreSQL: digest %s, want %s", got, digest)
	}
}

// checkNonRoot reads the container's main process from /proc: it runs as
// 65532:65532 with no effective capabilities (and, when hardened, with
// no_new_privs set).
func checkNonRoot(t *testing.T, c *container, hardened bool) {
	t.Helper()
	st := c.procStatus(t, "Uid", "Gid", "CapEff", "CapPrm", "NoNewPrivs", "Name")
	if st["Name"] != "berth" {
		t.Fatalf("container's main process is %q, want berth", st["Name"])
	}
	ids := strings.Repeat(berthUID+" ", 3) + berthUID
	if st["Uid"] != ids || st["Gid"] != ids {
		t.Errorf("berth runs as Uid %q Gid %q, want %s", st["Uid"], st["Gid"], ids)
	}
	if st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" {
		t.Errorf("berth has capabilities: CapEff %s CapPrm %s", st["CapEff"], st["CapPrm"])
	}
	if hardened && st["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %q, want 1", st["NoNewPrivs"])
	}
}

// terminateDuringUpload starts a blob upload, sends SIGTERM halfway
// through its body, finishes it, and checks that it succeeds and that the
// container then exits within shutdownTimeout. It returns the exit code
// and the time from SIGTERM to exit.
func terminateDuringUpload(t *testing.T, c *container, shutdownTimeout time.Duration) (int, time.Duration) {
	t.Helper()
	resp, err := http.Post(c.URL("/v2/library/drain/blobs/uploads/"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("POST upload: %d %q", resp.StatusCode, loc)
	}
	if strings.HasPrefix(loc, "/") {
		loc = c.URL(loc)
	}
	chunk := make([]byte, 256<<10)
	_, _ = rand.Read(chunk)
	const chunks = 8
	h := sha256.New()
	for range chunks {
		h.Write(chunk)
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest=sha256:"+hex.EncodeToString(h.Sum(nil)), pr)
	req.ContentLength = int64(len(chunk) * chunks)
	req.Header.Set("Content-Type", "application/octet-stream")
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.d.run("kill", "--signal", "TERM", c.Name)
	time.Sleep(300 * time.Millisecond) // shutdown has begun; the upload is mid-body
	for i := 1; i < chunks; i++ {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatalf("write chunk %d after SIGTERM: %v", i, err)
		}
	}
	pw.Close()
	if r := <-done; r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("upload in flight during shutdown: status %d err %v", r.status, r.err)
	}
	code, elapsed := c.wait(t, start)
	if elapsed >= shutdownTimeout {
		t.Errorf("the container took %s to exit after SIGTERM, beyond the %s shutdown timeout", elapsed, shutdownTimeout)
	}
	if logs := c.logs(); !strings.Contains(logs, "draining requests in flight") || strings.Contains(logs, "shutdown timeout reached") {
		t.Errorf("shutdown log:\n%s", logs)
	}
	return code, elapsed
}
