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
	resp, body := headersFrom(t, src, url, user, pw)
	return resp.StatusCode, body
}

// TestLoginThrottling: after maxFailures failed logins of a user from one
// address, that user is locked out from that address only: the right
// password from there is refused with an answer of its own (429 and
// Retry-After on the token service and the management APIs, Retry-After
// on /v2), never "wrong username or password", and a WARN line names the
// user and the address (never the password). The same user from another
// address logs in all along. The lock ends after lockoutPeriod; the next
// lock in a row lasts twice as long.
func TestLoginThrottling(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_AUTH_MAX_FAILURES=3", "BERTH_AUTH_LOCKOUT_PERIOD=2s"}})
	const pw, wrong = "t1-Passw0rd", "wrong-Passw0rd-xyzzy"
	credMustAPI(t, b, "POST", "/users", map[string]any{"username": "t1", "password": pw}, http.StatusCreated)
	v2 := b.URL("/v2/")
	tokenURL := b.URL("/service/token?service=berth&scope=repository:library/x:pull")
	mgmt := b.URL("/api/berth/v1/projects")

	if code, body := getFrom(t, "127.0.0.1", v2, "t1", pw); code != http.StatusOK {
		t.Fatalf("t1 before any failure = %d %s", code, body) // and now cached
	}
	lock := func(src string) time.Time {
		t.Helper()
		for i := 0; i < 3; i++ {
			if code, _ := getFrom(t, src, v2, "t1", wrong); code != http.StatusUnauthorized {
				t.Fatalf("wrong password #%d from %s = %d", i+1, src, code)
			}
		}
		return time.Now()
	}
	lockedAt := lock("127.0.0.1")
	for _, u := range []string{v2, tokenURL, mgmt} {
		_, wrongBody := getFrom(t, "127.0.0.9", u, "t1", wrong) // one failure there, no lock
		resp, body := headersFrom(t, "127.0.0.1", u, "t1", pw)
		want := http.StatusTooManyRequests
		if u == v2 {
			want = http.StatusUnauthorized // distribution answers every refused login 401
		}
		// distribution writes /v2's body itself: there Retry-After is
		// what tells the lockout from a wrong password.
		if resp.StatusCode != want || resp.Header.Get("Retry-After") == "" || (u != v2 && body == wrongBody) ||
			strings.Contains(body, "wrong username or password") {
			t.Errorf("right password during the lockout on %s = %d Retry-After %q %s, want %d with Retry-After, not a wrong password's answer",
				u, resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
		}
		if u != v2 && !strings.Contains(body, "too many failed logins") {
			t.Errorf("lockout answer on %s does not say why: %s", u, body)
		}
	}
	// Another address is never denied the right password.
	for _, u := range []string{v2, tokenURL, mgmt} {
		if code, body := getFrom(t, "127.0.0.2", u, "t1", pw); code != http.StatusOK {
			t.Errorf("t1 from another address during the lockout on %s = %d %s, want 200", u, code, body)
		}
	}
	logs := b.Logs()
	if !regexpLine(logs, `"level":"WARN".*login locked.*"username":"t1".*"client":"127.0.0.1"`) {
		t.Error("no WARN line names the locked user and address")
	}
	if strings.Contains(logs, wrong) || strings.Contains(logs, pw) {
		t.Error("a password is in the log")
	}

	if time.Since(lockedAt) > 1500*time.Millisecond {
		t.Skip("machine too slow to observe a 2s lockout")
	}
	time.Sleep(time.Until(lockedAt.Add(2500 * time.Millisecond)))
	// The lock is over; failing again locks again, for twice as long.
	lock("127.0.0.1")
	resp, body := headersFrom(t, "127.0.0.1", tokenURL, "t1", pw)
	if resp.StatusCode != http.StatusTooManyRequests || (resp.Header.Get("Retry-After") != "4" && resp.Header.Get("Retry-After") != "3") {
		t.Errorf("second lock in a row = %d Retry-After %q %s, want 429 with about 4 s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if code, body := getFrom(t, "127.0.0.3", v2, "t1", pw); code != http.StatusOK {
		t.Errorf("t1 from a third address = %d %s", code, body)
	}
}

// headersFrom is getFrom with the response's headers.
func headersFrom(t *testing.T, src, url, user, pw string) (*http.Response, string) {
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
	return resp, readAll(t, resp)
}

// TestLoginThrottlingAcrossReplicas: two replicas on one PostgreSQL count
// failed logins together: failures on one lock the user out from that
// address on the other, and the other address logs in on both.
func TestLoginThrottlingAcrossReplicas(t *testing.T) {
	env := []string{"BERTH_AUTH_MAX_FAILURES=4", "BERTH_AUTH_LOCKOUT_PERIOD=60s",
		"BERTH_DATABASE_URL=" + berthtest.SharedPostgres(t).NewDatabase(t)}
	a := berthtest.Start(t, berthtest.Options{Env: env})
	b := berthtest.Start(t, berthtest.Options{Env: env})
	const pw, wrong = "r1-Passw0rd", "wrong-Passw0rd"
	credMustAPI(t, a, "POST", "/users", map[string]any{"username": "r1", "password": pw}, http.StatusCreated)
	tokenA := a.URL("/service/token?service=berth&scope=repository:library/x:pull")
	tokenB := b.URL("/service/token?service=berth&scope=repository:library/x:pull")
	// Two failures on each replica: four in all, the limit.
	for _, u := range []string{tokenA, tokenB, tokenA, tokenB} {
		if code, body := getFrom(t, "127.0.0.1", u, "r1", wrong); code != http.StatusUnauthorized {
			t.Fatalf("wrong password on %s = %d %s", u, code, body)
		}
	}
	for _, u := range []string{tokenA, tokenB} {
		if code, body := getFrom(t, "127.0.0.1", u, "r1", pw); code != http.StatusTooManyRequests {
			t.Errorf("right password from the guessing address on %s = %d %s, want 429", u, code, body)
		}
		if code, body := getFrom(t, "127.0.0.2", u, "r1", pw); code != http.StatusOK {
			t.Errorf("right password from another address on %s = %d %s, want 200", u, code, body)
		}
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
