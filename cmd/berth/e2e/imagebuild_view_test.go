package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// chromium finds the browser; the test is skipped without one only
// outside CI (CI installs Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/tools.sh installs it)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// TestImageBuildConfigPage loads the configuration page in headless
// Chromium, edits a field, saves, and checks the definition through the API.
func TestImageBuildConfigPage(t *testing.T) {
	browser := chromium(t)
	e := startIBEnv(t, berthtest.Options{})
	b := e.b
	ib(t, b, http.MethodPost, "/api/project/save", map[string]any{"project": "page", "Cluster": "apps", "DefineDockerFileType": "tool",
		"$$plugin": []any{"base_image", "workdir"}, "base_image.image": "base/tiny:1", "workdir.dir": "/srv"})

	// A page that needs escaping: the Dockerfile of another project.
	ib(t, b, http.MethodPost, "/api/project/save", map[string]any{"project": "xss", "Cluster": "apps", "DefineDockerFileType": "edit",
		"$$plugin": "static_dockerfile", "static_dockerfile.dockerfile": "FROM scratch\nLABEL x=\"</textarea><script>alert(1)</script>\""})
	resp, body := httpDo(t, http.MethodGet, b.URL("/view/config/independent?projectName=xss"), nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || strings.Contains(string(body), "<script>alert(1)") {
		t.Fatalf("page: %s, escaped? %v", ct, !strings.Contains(string(body), "<script>alert(1)"))
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	authz := "Basic " + base64.StdEncoding.EncodeToString([]byte("dev:"+e.pw))
	var status, workdir string
	err := chromedp.Run(ctx,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": authz}),
		chromedp.Navigate(b.URL("/view/config/independent?projectName=page")),
		chromedp.WaitVisible("#save", chromedp.ByID),
		chromedp.Value("#workdir", &workdir, chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("workdir").value = ""`, nil),
		chromedp.SendKeys("#workdir", "/opt/app", chromedp.ByID),
		chromedp.SendKeys("#expose", "8080", chromedp.ByID),
		chromedp.Click("#save", chromedp.ByID),
		chromedp.WaitVisible(`#status[data-code]`, chromedp.ByQuery),
		chromedp.Text("#status", &status, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if workdir != "/srv" || status != "saved" {
		t.Fatalf("page showed workdir %q, save said %q", workdir, status)
	}
	// The definition changed: build it and read the config.
	id := ibBuild(t, b, "page", "v1")
	if build := waitBuild(t, b, "page", id); build["state"] != float64(1) {
		t.Fatalf("build: %v", build["logs"])
	}
	c := craneConfig(t, b.Addr+"/apps/page:v1")["config"].(map[string]any)
	if _, ok := c["ExposedPorts"].(map[string]any)["8080/tcp"]; c["WorkingDir"] != "/opt/app" || !ok {
		t.Fatalf("config after the page saved: %v", c)
	}
	if info := ib(t, b, http.MethodGet, "/api/project/info?projectName=page", nil).content.(map[string]any); info["lastModifyOperator"] != "dev" {
		t.Errorf("info %v", info)
	}
}
