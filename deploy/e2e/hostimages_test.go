package e2e

// Stand-ins for the MinIO and PostgreSQL images compose.yaml names, built
// offline from what the test machine has: the pinned MinIO binary (static)
// and Debian's PostgreSQL with the shared libraries it loads. They honour
// what compose.yaml uses of the real images: `minio server /data` with
// MINIO_ROOT_USER/PASSWORD, and POSTGRES_USER/PASSWORD/DB with the data in
// /var/lib/postgresql/data.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// buildContext is a docker build context being staged.
type buildContext struct {
	t   *testing.T
	dir string
}

func newBuildContext(t *testing.T) *buildContext {
	t.Helper()
	return &buildContext{t: t, dir: t.TempDir()}
}

func (b *buildContext) write(rel, content string, mode os.FileMode) {
	b.t.Helper()
	p := filepath.Join(b.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		b.t.Fatal(err)
	}
}

func (b *buildContext) mkdir(rel string, mode os.FileMode) {
	b.t.Helper()
	p := filepath.Join(b.dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		b.t.Fatal(err)
	}
}

// copyHost copies a host file (following symlinks) to the same path under
// rootfs/, or to dst there when given.
func (b *buildContext) copyHost(src string, dst ...string) {
	b.t.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.t.Fatal(err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		b.t.Fatal(err)
	}
	target := filepath.Join(b.dir, "rootfs", src)
	if len(dst) > 0 {
		target = filepath.Join(b.dir, "rootfs", dst[0])
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		b.t.Fatal(err)
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		b.t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		b.t.Fatal(err)
	}
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)`)

// copyWithLibraries copies ELF files and every shared library ldd says
// they load.
func (b *buildContext) copyWithLibraries(files ...string) {
	b.t.Helper()
	libs := map[string]bool{}
	for _, f := range files {
		b.copyHost(f)
		out, err := exec.Command("ldd", f).Output()
		if err != nil {
			continue // static, or not an ELF file
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if m := lddLine.FindStringSubmatch(sc.Text()); m != nil {
				libs[m[1]] = true
			}
		}
	}
	for l := range libs {
		b.copyHost(l)
	}
}

// build runs docker build on the context; the image is removed when the
// tests end.
func (b *buildContext) build(d *docker, tag string) {
	b.t.Helper()
	cmd := exec.Command(d.bin, "build", "--quiet", "--tag", tag, b.dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
	imageMu.Lock()
	imageNames = append(imageNames, tag)
	imageMu.Unlock()
}

// minioImage is the pinned MinIO server on scratch.
func minioImage(t *testing.T, d *docker) string {
	t.Helper()
	b := newBuildContext(t)
	b.copyHost(berthtest.Tool(t, "minio"), "/usr/bin/minio")
	b.mkdir("rootfs/tmp", 0o1777)
	b.mkdir("rootfs/data", 0o755)
	b.write("Dockerfile", "FROM scratch\nCOPY rootfs/ /\nENV MINIO_UPDATE=off\nENTRYPOINT [\"/usr/bin/minio\"]\n", 0o644)
	tag := "berth-e2e-minio:" + randomName()
	b.build(d, tag)
	return tag
}

// postgresEntrypoint does what compose.yaml needs of the postgres image's
// (BIN is replaced by the server's directory), its command included: a
// first argument "postgres" is dropped and the rest (-c name=value) go to
// the server, as the official image's entrypoint does.
const postgresEntrypoint = `#!/bin/sh
set -e
export PGDATA=/var/lib/postgresql/data TZ=UTC
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  BIN/initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile=/dev/stdin -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null <<END
$POSTGRES_PASSWORD
END
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ -n "$POSTGRES_DB" ] && [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"${POSTGRES_USER:-postgres}\"" |
      BIN/postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
if [ "$1" = postgres ]; then shift; fi
exec BIN/postgres -D "$PGDATA" -c listen_addresses='*' "$@"
`

// postgresImage is Debian's PostgreSQL server (the newest installed) with
// its libraries, share files, UTC zone data and dash as /bin/sh.
func postgresImage(t *testing.T, d *docker) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Fatal("Debian's postgresql is not installed (.ci/tools.sh installs it)")
	}
	sort.Strings(bins)
	binDir := filepath.Dir(bins[len(bins)-1])
	version := filepath.Base(filepath.Dir(binDir))
	b := newBuildContext(t)
	files := []string{filepath.Join(binDir, "postgres"), filepath.Join(binDir, "initdb")}
	mods, _ := filepath.Glob(filepath.Join(filepath.Dir(binDir), "lib", "*.so"))
	for _, m := range mods {
		if !strings.HasPrefix(filepath.Base(m), "llvmjit") { // JIT would pull in LLVM
			files = append(files, m)
		}
	}
	b.copyWithLibraries(append(files, "/bin/dash")...)
	b.copyHost("/bin/dash", "/bin/sh")
	share := filepath.Join("/usr/share/postgresql", version)
	if err := filepath.Walk(share, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b.copyHost(p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, z := range []string{"/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Etc/UTC"} {
		b.copyHost(z)
	}
	b.write("rootfs/etc/passwd", "root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n", 0o644)
	b.write("rootfs/etc/group", "root:x:0:\npostgres:x:999:\n", 0o644)
	b.write("rootfs/usr/local/bin/docker-entrypoint.sh", strings.ReplaceAll(postgresEntrypoint, "BIN/", binDir+"/"), 0o755)
	b.mkdir("rootfs/tmp", 0o1777)
	b.mkdir("owned/var/lib/postgresql/data", 0o700)
	b.mkdir("owned/var/run/postgresql", 0o2775)
	b.write("Dockerfile", fmt.Sprintf("FROM scratch\nCOPY --chown=999:999 owned/ /\nCOPY rootfs/ /\nUSER 999:999\nENTRYPOINT [%q]\n",
		"/usr/local/bin/docker-entrypoint.sh"), 0o644)
	tag := "berth-e2e-postgres:" + randomName()
	b.build(d, tag)
	return tag
}
