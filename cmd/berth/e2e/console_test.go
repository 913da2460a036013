package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestConsoleInBrowser drives the web console in headless Chromium against
// a berth process: the login form's keyboard focus order, logging in, a
// project created with the form, an image pushed with crane appearing,
// inspected and its tag deleted after the confirmation, a forged form
// posted from another site refused, a guest refused the delete, and the
// pages' labels and landmarks at 1280×800 and at phone width (no page
// scrolls sideways). With BERTH_CONSOLE_SCREENSHOTS=dir it saves
// screenshots of the main pages there (docs/console holds the README's).
func TestConsoleInBrowser(t *testing.T) {
	browser := chromium(t)
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	const guestPass = "Guest-pass-1"
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": "gus", "password": guestPass}, 201)

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
	// The first Run starts the browser under ctx; each step after gets
	// its own deadline (a deadline on the first would close the browser).
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shots := os.Getenv("BERTH_CONSOLE_SCREENSHOTS")
	shot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		var png []byte
		run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// accessible checks what every page must have: landmarks, a heading,
	// a label for every field, and nothing wider than the window.
	accessible := func(page string) {
		t.Helper()
		var problems []string
		run("checking "+page, chromedp.Evaluate(`(() => {
			const p = [];
			for (const sel of ["header", "main", "nav", "h1"]) if (!document.querySelector(sel)) p.push("no " + sel);
			for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
				if (el.labels.length === 0 && !el.getAttribute("aria-label")) p.push("unlabelled " + (el.id || el.name));
			}
			if (document.documentElement.scrollWidth > window.innerWidth + 1) p.push("scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
			return p;
		})()`, &problems))
		if len(problems) > 0 {
			t.Errorf("%s: %v", page, problems)
		}
	}
	focused := func() string {
		var id string
		run("focus", chromedp.Evaluate(`document.activeElement.id || document.activeElement.tagName`, &id))
		return id
	}

	// The login form: focus starts on the username, Tab goes to the
	// password, then the button; Enter logs in.
	run("login page", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(b.URL("/console/login")), chromedp.WaitVisible("#username", chromedp.ByID))
	accessible("login")
	shot("login")
	if f := focused(); f != "username" {
		t.Errorf("focus on the login page starts at %q, want the username", f)
	}
	var order []string
	for range 2 {
		run("tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, focused())
	}
	if strings.Join(order, ",") != "password,login" {
		t.Errorf("Tab order from the username: %v, want password, login", order)
	}
	run("log in",
		chromedp.SendKeys("#username", "admin", chromedp.ByID),
		chromedp.SendKeys("#password", b.AdminPassword+kb.Enter, chromedp.ByID),
		chromedp.WaitVisible("#create-project", chromedp.ByID))
	accessible("projects")

	// A project through the form, an image pushed into it with crane.
	run("create project",
		chromedp.SendKeys("#name", "web", chromedp.ByID),
		chromedp.Click("#create-project", chromedp.ByID),
		chromedp.WaitVisible(`//h1[text()="web"]`, chromedp.BySearch))
	berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/projects/web/members/gus", map[string]string{"role": "guest"}, 200)
	crane := berthtest.Tool(t, "crane")
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, layer, map[string][]byte{"srv/index.html": []byte("hello from the console test\n")})
	berthtest.Run(t, crane, "append", "--insecure", "-t", b.Addr+"/web/app:v1", "-f", layer)
	berthtest.Run(t, crane, "tag", "--insecure", b.Addr+"/web/app:v1", "v2")
	digest := strings.TrimSpace(berthtest.Run(t, crane, "digest", "--insecure", b.Addr+"/web/app:v1"))

	run("the repository appears",
		chromedp.Navigate(b.URL("/console/projects/web")),
		chromedp.Click(`a[href="/console/repositories/web/app"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/console/repositories/web/app/-/artifacts/v1"]`, chromedp.ByQuery))
	accessible("tags")
	shot("tags")
	var pull string
	run("pull command", chromedp.AttributeValue(`button.copy`, "data-copy", &pull, nil, chromedp.ByQuery))
	if pull != "docker pull "+b.Addr+"/web/app:v1" {
		t.Errorf("pull command %q", pull)
	}
	var text string
	run("inspect",
		chromedp.Click(`a[href="/console/repositories/web/app/-/artifacts/v1"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#manifest", chromedp.ByID),
		chromedp.Text("main", &text, chromedp.ByQuery))
	if !strings.Contains(text, digest) || !strings.Contains(text, `"schemaVersion": 2`) || !strings.Contains(text, "Config") {
		t.Errorf("artifact page: %s", text)
	}
	accessible("artifact")
	shot("artifact")
	run("projects page", chromedp.Navigate(b.URL("/console/")), chromedp.WaitVisible("#create-project", chromedp.ByID))
	shot("projects")

	// Delete v1 after typing it into the confirmation.
	run("delete tag",
		chromedp.Navigate(b.URL("/console/repositories/web/app")),
		chromedp.Click(`a[aria-label="Delete tag v1"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm", chromedp.ByID))
	accessible("confirm")
	run("confirm",
		chromedp.SendKeys("#confirm", "v1", chromedp.ByID),
		chromedp.Click("#confirm-delete", chromedp.ByID),
		chromedp.WaitVisible(`a[href="/console/repositories/web/app/-/artifacts/v2"]`, chromedp.ByQuery),
		chromedp.Text("main", &text, chromedp.ByQuery))
	if strings.Contains(text, "v1") {
		t.Errorf("v1 still listed after its deletion: %s", text)
	}
	if code, _, _ := berthtest.GetAs(t, b, "/v2/web/app/manifests/v1", "admin", b.AdminPassword); code != 404 {
		t.Errorf("v1 after the console deleted it: %d", code)
	}

	// A page on another site (127.0.0.2) posts a form to the console in
	// the logged-in browser: refused, nothing created.
	evil := evilSite(t, fmt.Sprintf(`<form id="f" method="post" action="%s"><input name="name" value="forged"><input name="csrf" value="guess"></form>
		<script>document.getElementById("f").submit()</script>`, b.URL("/console/projects")))
	run("forged post", chromedp.Navigate(evil), chromedp.WaitVisible(`//h1[text()="Not allowed"]`, chromedp.BySearch))
	if code, _ := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects/forged", "admin", b.AdminPassword, nil); code != 404 {
		t.Errorf("the forged post created a project: %d", code)
	}

	// Phone width: the pages reflow.
	run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(b.URL("/console/repositories/web/app/-/artifacts/v2")),
		chromedp.WaitVisible("#manifest", chromedp.ByID))
	accessible("artifact at phone width")
	shot("artifact-phone")
	run("phone tags", chromedp.Navigate(b.URL("/console/repositories/web/app")), chromedp.WaitVisible("main", chromedp.ByQuery))
	accessible("tags at phone width")
	run("desktop", chromedp.EmulateViewport(1280, 800))

	// A guest: no delete offered, and the delete page refused.
	run("log out and in as the guest",
		chromedp.Navigate(b.URL("/console/")),
		chromedp.Click(`form.logout button`, chromedp.ByQuery),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", "gus", chromedp.ByID),
		chromedp.SendKeys("#password", guestPass+kb.Enter, chromedp.ByID),
		chromedp.WaitVisible("#create-project", chromedp.ByID),
		chromedp.Navigate(b.URL("/console/repositories/web/app")),
		chromedp.WaitVisible(`a[href="/console/repositories/web/app/-/artifacts/v2"]`, chromedp.ByQuery))
	var deletes int
	run("delete links", chromedp.Evaluate(`document.querySelectorAll('a[href*="/delete"]').length`, &deletes))
	if deletes != 0 {
		t.Errorf("a guest is offered %d delete links", deletes)
	}
	run("guest delete page", chromedp.Navigate(b.URL("/console/repositories/web/app/-/tags/v2/delete")),
		chromedp.WaitVisible(`//h1[text()="Not allowed"]`, chromedp.BySearch))
}

// evilSite serves page on 127.0.0.2 (another site than berth's 127.0.0.1)
// and returns its URL.
func evilSite(t *testing.T, page string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>elsewhere</title>"+page)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}
