package ccr

import (
	"net/http"

	"github.com/berth-registry/berth/ext/dialect"
)

// POST .../account/reset {"username":"test","new_password":"Admin1234"}:
// sets or resets a user's registry credential. Users may reset their own,
// system administrators anyone's (creating the user when missing). The
// password policy is berth's (8-72 characters with letters and digits); the
// old password stops working at once, on every replica. A caller proven
// only by a token may not change passwords.
func (h *handler) resetAccount(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Username    *string `json:"username"`
		NewPassword *string `json:"new_password"`
	}
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Username == nil || *body.Username == "" {
		return dialect.Invalidf("username is required")
	}
	if body.NewPassword == nil || *body.NewPassword == "" {
		return dialect.Invalidf("new_password is required")
	}
	dialect.Subject(r).Target = *body.Username
	if _, err := h.Auth.ResetCredential(r.Context(), dialect.Caller(r), *body.Username, *body.NewPassword); err != nil {
		return err
	}
	return h.ok(w, r, nil)
}
