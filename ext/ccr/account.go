package ccr

import (
	"net/http"
)

// POST .../account/reset {"username":"test","new_password":"Admin1234"}:
// sets or resets a user's registry credential. Users may reset their own,
// system administrators anyone's (creating the user when missing). The
// password policy is berth's (8-72 characters with letters and digits); the
// old password stops working at once, on every replica. A caller proven
// only by a token may not change passwords.
func (h *handler) resetAccount(w http.ResponseWriter, r *http.Request, v vars) error {
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	var body struct {
		Username    *string `json:"username"`
		NewPassword *string `json:"new_password"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.Username == nil || *body.Username == "" {
		return badParam("username is required")
	}
	if body.NewPassword == nil || *body.NewPassword == "" {
		return badParam("new_password is required")
	}
	created, err := h.auth.ResetCredential(r.Context(), p, *body.Username, *body.NewPassword)
	if err != nil {
		return err
	}
	h.audit(r, "registry credential reset", "username", *body.Username, "created", created)
	ok(w, r, nil)
	return nil
}
