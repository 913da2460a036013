package imagebuild

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/builder"
)

//go:embed config.html
var pageFS embed.FS

var configPage = template.Must(template.ParseFS(pageFS, "config.html"))

// pageData fills the configuration page: the definition as saved.
type pageData struct {
	Nonce      string
	Name       string
	Cluster    string
	Type       string
	Dockerfile string
	URL        string
	Archive    string
	BaseImage  string
	Maintainer string
	Env        string // KEY=VALUE per line
	Expose     string // space-separated
	Workdir    string
	Copy       string // "src dest" per line
	Run        string // one command per line
	Entrypoint string // space-separated exec form
	Cmd        string
}

func pageFrom(p builder.Project) pageData {
	d := pageData{Name: p.Name, Cluster: p.Cluster, Type: p.FileType}
	for _, pl := range p.Plugins {
		a := func(k string) []string { return pl.Attrs[k] }
		first := func(k string) string {
			if v := a(k); len(v) > 0 {
				return v[0]
			}
			return ""
		}
		switch pl.Name {
		case "static_dockerfile":
			d.Dockerfile = first("dockerfile")
		case "download_dockerfile":
			d.URL = first("url")
		case "source_archive":
			d.Archive = first("url")
		case "base_image", "base_image_choose_from_harbor":
			d.BaseImage = first("image")
		case "maintainer":
			d.Maintainer = first("name")
		case "env":
			var lines []string
			for i, k := range a("key") {
				if i < len(a("value")) {
					lines = append(lines, k+"="+a("value")[i])
				}
			}
			d.Env = strings.Join(append(lines, a("env")...), "\n")
		case "expose":
			d.Expose = strings.Join(a("port"), " ")
		case "workdir":
			d.Workdir = first("dir")
		case "copy":
			var lines []string
			for i, s := range a("src") {
				if i < len(a("dest")) {
					lines = append(lines, s+" "+a("dest")[i])
				}
			}
			d.Copy = strings.Join(lines, "\n")
		case "run":
			d.Run = strings.Join(a("command"), "\n")
		case "entrypoint":
			d.Entrypoint = strings.Join(a("command"), " ")
		case "cmd":
			d.Cmd = strings.Join(a("command"), " ")
		}
	}
	return d
}

// view is /view/config/independent?projectName=: an HTML form to edit the
// project's build definition; it saves through /api/project/save.
func (h *handler) view(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionPull)
	if err != nil {
		return err
	}
	d := pageFrom(proj)
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	d.Nonce = base64.StdEncoding.EncodeToString(nonce)
	if wantsJSON(r) {
		// The seed's answer: the page as a string under "data".
		var page strings.Builder
		if err := configPage.Execute(&page, d); err != nil {
			return err
		}
		h.JSON(w, http.StatusOK, struct {
			Code   int    `json:"code"`
			ErrMsg string `json:"errMsg"`
			Data   string `json:"data"`
		}{CodeOK, "ok", page.String()})
		return nil
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'nonce-"+d.Nonce+"'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	return configPage.Execute(w, d)
}

// wantsJSON reports whether the caller of the configuration page asks for
// the seed's JSON answer rather than the page: an Accept that prefers
// application/json to text/html, or (the seed's request example) a
// Content-Type of application/json with no Accept preferring HTML.
// Browsers navigating to the page send neither and get HTML.
func wantsJSON(r *http.Request) bool {
	qJSON, qHTML, named := acceptQ(r.Header.Values("Accept"))
	if qJSON > qHTML {
		return true
	}
	if qHTML > 0 || named { // HTML preferred, or JSON refused (q=0)
		return false
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/json"
}

// acceptQ returns the quality an Accept header gives application/json and
// text/html (explicitly or through type/* ranges; */* counts for neither),
// and whether it names a range covering JSON at all.
func acceptQ(values []string) (qJSON, qHTML float64, named bool) {
	bestJSON, bestHTML := -1, -1 // specificity of the range that set each
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, ps, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := ps["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			set := func(want string, best *int, out *float64) {
				typ, _, _ := strings.Cut(want, "/")
				spec := -1
				switch mt {
				case want:
					spec = 2
				case typ + "/*":
					spec = 1
				}
				if spec > *best {
					*best, *out = spec, q
				}
			}
			set("application/json", &bestJSON, &qJSON)
			set("text/html", &bestHTML, &qHTML)
		}
	}
	return qJSON, qHTML, bestJSON >= 0
}
