package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestAdminPasswordBootstrap starts berth without BERTH_ADMIN_PASSWORD: it
// generates the admin password into DATA_DIR/admin.password (0600), logs
// the path but never the password, and keeps it across restarts.
func TestAdminPasswordBootstrap(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{NoAdminPassword: true})
	path := filepath.Join(b.DataDir, "admin.password")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no generated admin password: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode = %o, want 600", path, perm)
	}
	raw := readFile(t, path)
	pw := strings.TrimSpace(string(raw))
	if len(pw) < 16 || pw == berthtest.AdminPassword {
		t.Fatalf("generated password %q is too short or the test default", pw)
	}
	if b.AdminPassword != pw {
		t.Errorf("berthtest read AdminPassword %q, file holds %q", b.AdminPassword, pw)
	}
	if resp, body := credGet(t, b.URL("/v2/"), "admin", pw); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ as admin with the generated password = %d %s", resp.StatusCode, body)
	}
	if resp, _ := credGet(t, b.URL("/v2/"), "admin", berthtest.AdminPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v2/ as admin with the default test password = %d, want 401", resp.StatusCode)
	}
	logs := b.Logs()
	if !strings.Contains(logs, path) {
		t.Errorf("logs do not name %s:\n%s", path, logs)
	}
	if strings.Contains(logs, pw) {
		t.Errorf("logs contain the generated password:\n%s", logs)
	}

	// A restart on the same data dir keeps the admin and the file as they are.
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	b2 := berthtest.Start(t, berthtest.Options{DataDir: b.DataDir, NoAdminPassword: true})
	if again := readFile(t, path); !bytes.Equal(again, raw) {
		t.Errorf("restart changed admin.password: %q, was %q", again, raw)
	}
	if resp, body := credGet(t, b2.URL("/v2/"), "admin", pw); resp.StatusCode != http.StatusOK {
		t.Errorf("after restart, GET /v2/ as admin = %d %s", resp.StatusCode, body)
	}
	if logs := b2.Logs(); strings.Contains(logs, "created user admin") || strings.Contains(logs, pw) {
		t.Errorf("restart bootstrapped the admin again or logged the password:\n%s", logs)
	}

	// With BERTH_ADMIN_PASSWORD set, no password file is written.
	b3 := berthtest.Start(t, berthtest.Options{})
	if _, err := os.Stat(filepath.Join(b3.DataDir, "admin.password")); !os.IsNotExist(err) {
		t.Errorf("admin.password written although BERTH_ADMIN_PASSWORD was set: %v", err)
	}
}

// TestLoginNoEnumeration: an unknown user and a wrong password look the
// same on every endpoint that takes credentials.
func TestLoginNoEnumeration(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	credMustAPI(t, b, "POST", "/users", map[string]any{"username": "known", "password": "known-Passw0rd"}, http.StatusCreated)
	for _, path := range []string{"/v2/", "/v2/library/x/tags/list", "/service/token?service=berth&scope=repository:library/x:pull", "/api/berth/v1/projects"} {
		unknown, ubody := credGet(t, b.URL(path), "nosuchuser", "known-Passw0rd")
		wrong, wbody := credGet(t, b.URL(path), "known", "wrong-Passw0rd")
		if unknown.StatusCode != http.StatusUnauthorized || unknown.StatusCode != wrong.StatusCode || ubody != wbody ||
			unknown.Header.Get("WWW-Authenticate") != wrong.Header.Get("WWW-Authenticate") {
			t.Errorf("%s: unknown user = %d %q %q; wrong password = %d %q %q; want the same 401", path,
				unknown.StatusCode, unknown.Header.Get("WWW-Authenticate"), ubody, wrong.StatusCode, wrong.Header.Get("WWW-Authenticate"), wbody)
		}
	}
}

// getFrom GETs url with Basic credentials from a chosen loopback address,
// so throttling by client address can be told from throttling by user.
func getFrom(t *testing.T, src, url, user, pw string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth(user, pw)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// TestLoginThrottling: after maxFailures failed logins the user (and the
// client address) is locked out for lockoutPeriod, even with the right
// password, which works again afterwards.
func TestLoginThrottling(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_AUTH_MAX_FAILURES=3", "BERTH_AUTH_LOCKOUT_PERIOD=2s"}})
	const pw = "t1-Passw0rd"
	credMustAPI(t, b, "POST", "/users", map[string]any{"username": "t1", "password": pw}, http.StatusCreated)
	credMustAPI(t, b, "POST", "/users", map[string]any{"username": "t2", "password": pw}, http.StatusCreated)
	v2 := b.URL("/v2/")
	tokenURL := b.URL("/service/token?service=berth&scope=repository:library/x:pull")

	if code, body := getFrom(t, "127.0.0.1", v2, "t1", pw); code != http.StatusOK {
		t.Fatalf("t1 before any failure = %d %s", code, body) // and now cached
	}
	var wrongBody string
	for i := 0; i < 3; i++ {
		var code int
		if code, wrongBody = getFrom(t, "127.0.0.1", v2, "t1", "wrong-Passw0rd"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d = %d", i+1, code)
		}
	}
	lockedAt := time.Now()
	for _, u := range []string{v2, tokenURL} {
		code, body := getFrom(t, "127.0.0.1", u, "t1", pw)
		if code != http.StatusUnauthorized {
			t.Errorf("right password during lockout on %s = %d, want 401", u, code)
		}
		if u == v2 && body != wrongBody {
			t.Errorf("lockout answer differs from a wrong password's:\n%s\n%s", body, wrongBody)
		}
	}
	if time.Since(lockedAt) > 1500*time.Millisecond {
		t.Skip("machine too slow to observe a 2s lockout")
	}
	time.Sleep(time.Until(lockedAt.Add(2500 * time.Millisecond)))
	for _, u := range []string{v2, tokenURL} {
		if code, body := getFrom(t, "127.0.0.1", u, "t1", pw); code != http.StatusOK {
			t.Errorf("right password after the lockout on %s = %d %s, want 200", u, code, body)
		}
	}

	// One user attacked from many addresses is locked out too, from every
	// address; other users are not.
	for i, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if code, _ := getFrom(t, src, v2, "t2", "wrong-Passw0rd"); code != http.StatusUnauthorized {
			t.Fatalf("t2 wrong password #%d from %s = %d", i+1, src, code)
		}
	}
	if code, _ := getFrom(t, "127.0.0.5", v2, "t2", pw); code != http.StatusUnauthorized {
		t.Errorf("locked-out t2 from a fresh address = %d, want 401", code)
	}
	if code, body := getFrom(t, "127.0.0.6", v2, "t1", pw); code != http.StatusOK {
		t.Errorf("t1 while t2 is locked out = %d %s, want 200", code, body)
	}
}

// TestUserCLI manages users with `berth user` on the data of a stopped
// berth, then checks the result through a restarted one.
func TestUserCLI(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	env = append(env, b.Env()...)
	secrets := []string{"u2-Passw0rd", "u2-NewPassw0rd"}
	user := func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(berthtest.Binary(t), append(append([]string{"user"}, args...), "--data-dir", b.DataDir)...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		for _, s := range secrets {
			if strings.Contains(stdout.String()+stderr.String(), s) {
				t.Errorf("berth user %s printed a password:\n%s%s", strings.Join(args, " "), &stdout, &stderr)
			}
		}
		return stdout.String(), stderr.String(), err
	}
	ok := func(stdin, want string, args ...string) string {
		t.Helper()
		out, errOut, err := user(stdin, args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("berth user %s = %v, stdout %q (want %q), stderr %q", strings.Join(args, " "), err, out, want, errOut)
		}
		return out
	}
	refused := func(stdin, want string, args ...string) {
		t.Helper()
		out, errOut, err := user(stdin, args...)
		if err == nil || !strings.Contains(errOut, want) {
			t.Errorf("berth user %s = %v, stdout %q, stderr %q; want a failure saying %q", strings.Join(args, " "), err, out, errOut, want)
		}
	}

	ok("u2-Passw0rd\n", "created user u2", "add", "u2")
	refused("weakpass\n", "weak password: must contain letters and digits", "add", "u3")
	refused("abc1\n", "weak password: must be 8 to 72 characters", "add", "u3")
	refused("", "no password on standard input", "add", "u3")
	refused("u3-Passw0rd\n", "username", "add", "Bad-Name")
	refused("u2-Passw0rd\n", "already exists", "add", "u2")
	list := ok("", "u2", "list")
	if !regexpLine(list, `^admin\s+admin$`) || !regexpLine(list, `^u2\s+user$`) || strings.Contains(list, "u3") {
		t.Errorf("berth user list:\n%s", list)
	}
	ok("u2-NewPassw0rd\n", "password of u2 changed", "passwd", "u2")
	refused("short\n", "weak password", "passwd", "u2")
	refused("Nobody-Passw0rd\n", `user "nobody" does not exist`, "passwd", "nobody")

	// A berth started on the data sees the CLI's changes.
	b2 := berthtest.Start(t, berthtest.Options{DataDir: b.DataDir, Env: b.Env()})
	if resp, body := credGet(t, b2.URL("/v2/"), "u2", "u2-NewPassw0rd"); resp.StatusCode != http.StatusOK {
		t.Errorf("u2 with the password set by berth user passwd = %d %s", resp.StatusCode, body)
	}
	if resp, _ := credGet(t, b2.URL("/v2/"), "u2", "u2-Passw0rd"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("u2 with its old password = %d, want 401", resp.StatusCode)
	}
	if err := b2.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	ok("", "deleted user u2", "delete", "u2")
	if list := ok("", "admin", "list"); strings.Contains(list, "u2") {
		t.Errorf("u2 still listed after delete:\n%s", list)
	}
	refused("", "cannot be deleted", "delete", "admin")
	refused("", "missing NAME", "add")
}

// regexpLine reports whether some line of s matches re.
func regexpLine(s, re string) bool {
	for _, l := range lines(s) {
		if matched, _ := regexp.MatchString(re, l); matched {
			return true
		}
	}
	return false
}
