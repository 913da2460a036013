package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

const (
	bcryptCost     = 10
	minPasswordLen = 8
	maxPasswordLen = 72 // bcrypt's limit
)

// ErrWeakPassword is returned for passwords the policy refuses.
var ErrWeakPassword = errors.New("weak password")

// CheckPolicy enforces the password policy: 8 to 72 characters with at
// least one letter and one digit.
func CheckPolicy(pw string) error {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return fmt.Errorf("%w: must be %d to %d characters", ErrWeakPassword, minPasswordLen, maxPasswordLen)
	}
	var letter, digit bool
	for _, r := range pw {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	if !letter || !digit {
		return fmt.Errorf("%w: must contain letters and digits", ErrWeakPassword)
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	return string(h), err
}

// dummyHash is compared against when the user does not exist, so unknown
// users and wrong passwords take the same time.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user, no such password 0"), bcryptCost)

// checkHash compares pw with hash in constant time (bcrypt does).
func checkHash(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// RandomSecret returns n random bytes, URL-safe base64 encoded.
func RandomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
