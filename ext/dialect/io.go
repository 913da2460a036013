package dialect

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/registry/domain"
)

// JSON writes v as the dialect's JSON answer with status.
func (a *API[C]) JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	if a.Header == nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	for k, vs := range a.Header {
		h[k] = vs
	}
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// DecodeJSON reads one JSON object of at most MaxBody bytes into v; with
// StrictJSON, unknown fields and data after the object are refused. Every
// failure is ErrBadBody; a body not sent as JSON is ErrMediaType
// (RequireJSON).
func (a *API[C]) DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := RequireJSON(r); err != nil {
		return err
	}
	limit := a.MaxBody
	if limit <= 0 {
		limit = 64 << 10
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	if a.StrictJSON {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil && a.StrictJSON {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return domain.Errorf(ErrBadBody, "request body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return domain.Errorf(ErrBadBody, "request body is empty: a JSON object is required")
	}
	return domain.Errorf(ErrBadBody, "request body is not a valid JSON object for this call: %v", err)
}

// Authorize is the one authorization step of every project route: may
// the caller do action in project? A project the caller may not see is
// auth.ErrNotFound, exactly like a missing one, and an anonymous caller
// is asked to authenticate. It returns the project, so the handler need
// not look it up again.
func (a *API[C]) Authorize(r *http.Request, project, action string) (domain.Project, error) {
	return a.Auth.Check(r.Context(), Caller(r), project, action)
}

// VisibleProjects lists the ids of the projects the caller may see (nil:
// every project, for a system administrator), for lists.
func (a *API[C]) VisibleProjects(r *http.Request) ([]int64, error) {
	return a.Auth.VisibleProjects(r.Context(), Caller(r))
}

// RequireJSON refuses a body whose Content-Type is not application/json
// (or a +json type): ErrMediaType. A browser can send a form, text/plain
// or a typeless blob to another site without asking first, never JSON, so
// a JSON API that insists on its media type cannot be driven by another
// site's page; clients of the API send the type anyway.
func RequireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return domain.Errorf(ErrMediaType, "the request body must be JSON sent as Content-Type: application/json, not %.100q", ct)
}
