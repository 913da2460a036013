package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// errBadCSRF is a form without the token of the session (or, for the
// login form, of its cookie): a stale page, or a forged post.
var errBadCSRF = errors.New("the form is stale or was not sent by this console: reload the page and try again")

type sessionKey struct{}

// Cookie names: with TLS the __Host- prefix binds a cookie to this host,
// its root path, and Secure.
const (
	sessionCookie = "berth-session"
	loginCookie   = "berth-login"
)

// secure reports whether browsers reach the console over TLS: berth's own,
// or a proxy's that says so (X-Forwarded-Proto) or the configured public
// URL names.
func (c *console) secure(r *http.Request) bool {
	return r.TLS != nil || (c.PublicURL != nil && strings.HasPrefix(c.PublicURL(r), "https://"))
}

func (c *console) cookieName(r *http.Request, name string) string {
	if c.secure(r) {
		return "__Host-" + name
	}
	return name
}

// setCookie sets an HttpOnly, SameSite=Strict cookie for the whole host
// (Secure under TLS); maxAge < 0 deletes it.
func (c *console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(r, name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
}

func (c *console) cookie(r *http.Request, name string) string {
	ck, err := r.Cookie(c.cookieName(r, name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// identify is the kit's credentials step for the console: the session
// cookie's user, or Anonymous. A cookie whose session ended is Anonymous
// too (the pages ask to log in again), and a request with credentials of
// the other APIs is not the console's: they are ignored.
func (c *console) identify(r *http.Request) (auth.Principal, error) {
	token := c.cookie(r, sessionCookie)
	if token == "" {
		return auth.Anonymous, nil
	}
	ses, err := c.Auth.LookupSession(r.Context(), token)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return auth.Anonymous, nil
	}
	if err != nil {
		return auth.Anonymous, domain.Errorf(domain.ErrUnavailable, "sessions cannot be checked now: %v", err)
	}
	*r = *r.WithContext(context.WithValue(r.Context(), sessionKey{}, ses))
	observe.SetUser(r.Context(), ses.Principal.Name)
	return ses.Principal, nil
}

func sessionOf(r *http.Request) (auth.Session, bool) {
	s, ok := r.Context().Value(sessionKey{}).(auth.Session)
	return s, ok
}

// csrf is the token the page's forms carry: the session's ("" without
// one; the login page passes its login cookie's own).
func csrf(r *http.Request) string {
	if s, ok := sessionOf(r); ok {
		return s.CSRF
	}
	return ""
}

// GET /login[?next=]
func (c *console) loginPage(w http.ResponseWriter, r *http.Request) error {
	return c.showLogin(w, r, http.StatusOK, "")
}

func (c *console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	token := auth.RandomSecret(24)
	c.setCookie(w, r, loginCookie, token, 3600)
	c.render(w, r, status, "login", pageData{Title: "Log in", CSRF: token, Error: msg,
		Data: map[string]string{"Next": safeNext(r.FormValue("next"))}})
	return nil
}

// POST /login: username, password, csrf (the login cookie's), next. The
// password is checked by auth.Login, with its lockout: while a login is
// locked out even the right password does not log in.
func (c *console) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return domain.Errorf(dialect.ErrBadBody, "the form could not be read: %v", err)
	}
	want := c.cookie(r, loginCookie)
	if want == "" || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(want)) != 1 {
		return errBadCSRF
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	p, err := c.Auth.Login(r.Context(), name, r.PostForm.Get("password"), clientAddr(r))
	if f := errorTable.Classify("", err); err != nil && f.Status == http.StatusTooManyRequests {
		// The identity layer locked the login out from this address (an
		// auth.ErrThrottled, which is an ErrUnauthenticated too, so it
		// is told apart first): it says for how long.
		c.Log.InfoContext(r.Context(), "console login locked out", "username", dialect.Clip(name))
		if secs := auth.RetryAfter(err); secs > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		return c.showLogin(w, r, f.Status, f.Message)
	}
	if errors.Is(err, auth.ErrUnauthenticated) || (err == nil && p.Kind != auth.KindUser) {
		c.Log.InfoContext(r.Context(), "console login refused", "username", dialect.Clip(name))
		return c.showLogin(w, r, http.StatusUnauthorized, "Wrong username or password.")
	}
	if err != nil {
		return err
	}
	if old := c.cookie(r, sessionCookie); old != "" {
		_ = c.Auth.EndSession(r.Context(), old)
	}
	ses, err := c.Auth.StartSession(r.Context(), p)
	if err != nil {
		return err
	}
	c.setCookie(w, r, loginCookie, "", -1)
	c.setCookie(w, r, sessionCookie, ses.Token, 0)
	c.Log.InfoContext(r.Context(), "console login", "username", p.Name)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

// POST /logout: the session is deleted from the database, not just
// forgotten by the browser.
func (c *console) logout(w http.ResponseWriter, r *http.Request) error {
	ses, _ := sessionOf(r)
	if err := c.Auth.EndSession(r.Context(), ses.Token); err != nil {
		return err
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a redirect after login inside the console.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, Prefix+"/") || strings.HasPrefix(next, "//") ||
		strings.Contains(next, "\\") {
		return Prefix + "/"
	}
	return next
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
