package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageData is what every page template gets.
type pageData struct {
	Title  string
	User   auth.Principal
	CSRF   string
	Error  string // shown at the top, in an alert
	Notice string
	Crumbs []crumb
	Host   string // where clients pull from
	Data   any
}

type crumb struct{ Label, Href string }

var funcs = template.FuncMap{
	"bytes":   humanBytes,
	"when":    when,
	"short":   shortDigest,
	"percent": percent,
	"repoURL": repoURL,
	"artURL":  artURL,
	"path":    pathEscape,
	"isIndex": func(mediaType string) bool {
		return strings.HasSuffix(mediaType, ".index.v1+json") || strings.HasSuffix(mediaType, ".manifest.list.v2+json")
	},
	"nodes": func(repo string, n []referrer) treeData { return treeData{repo, n} },
}

// treeData is one level of the referrers tree template.
type treeData struct {
	Repo  string
	Nodes []referrer
}

// pages are parsed once: each page template with the layout.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return out
}()

// securityHeaders go on every answer of the console: no caching of pages
// that show private data or a secret, no framing, scripts and styles from
// the console only.
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// render writes page name with d, rendered into a buffer first, so a
// template failure is a clean 500.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	t, ok := pages[name]
	if !ok {
		panic("console: no template " + name)
	}
	if !d.User.Authenticated() {
		d.User = dialect.Caller(r)
	}
	if d.CSRF == "" {
		d.CSRF = csrf(r)
	}
	d.Host = c.PublicHost(r)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", d); err != nil {
		c.Log.ErrorContext(r.Context(), "console: rendering", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is the kit's envelope: a page that asks an anonymous caller to
// log in (after which it returns here), or that says what failed.
func (c *console) errorPage(w http.ResponseWriter, r *http.Request, f dialect.Failure[string]) {
	w.Header().Del("WWW-Authenticate") // no Basic prompt in a browser
	if f.Status == http.StatusUnauthorized && r.URL.Path != Prefix+"/login" {
		// A page comes back after the login; a form whose session ended
		// is not replayed.
		to := Prefix + "/login"
		if r.Method == http.MethodGet {
			to += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		securityHeaders(w.Header())
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	c.render(w, r, f.Status, "error", pageData{Title: f.Code, Error: f.Message})
}

// GET /static/{file}: the CSS and the JavaScript, embedded.
func (c *console) static(w http.ResponseWriter, r *http.Request) error {
	name := dialect.Var(r, "file")
	if strings.ContainsAny(name, "/\\") {
		return dialect.NotFoundf("no static file %q", dialect.Clip(name))
	}
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return dialect.NotFoundf("no static file %q", dialect.Clip(name))
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	_, _ = w.Write(b)
	return nil
}

// redirect answers a form post with a 303 to a console page.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	securityHeaders(w.Header())
	http.Redirect(w, r, Prefix+to, http.StatusSeeOther)
	return nil
}

func humanBytes(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return d[:len(d)-len(hex)] + hex[:12]
	}
	return d
}

// percent is used/quota in whole percent, for the quota bar (0 without a
// quota, at most 100).
func percent(used, quota int64) int {
	if quota <= 0 {
		return 0
	}
	return int(min(100, used*100/quota))
}

// pathEscape escapes each segment of a slash-separated name.
func pathEscape(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(template.URLQueryEscaper(p), "+", "%20")
	}
	return strings.Join(parts, "/")
}

func repoURL(repo string) string { return Prefix + "/repositories/" + pathEscape(repo) }

func artURL(repo, ref string) string { return repoURL(repo) + "/-/artifacts/" + pathEscape(ref) }

// project is the route's {project}, authorized for action.
func (c *console) project(r *http.Request, action string) (domain.Project, error) {
	name := dialect.Var(r, "project")
	dialect.Subject(r).Project = name
	return c.Authorize(r, name, action)
}
