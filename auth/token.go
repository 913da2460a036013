package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tokenIssuer is the iss claim of every token berth issues.
const tokenIssuer = "berth"

// ResourceActions is one entry of a token's access claim, as in the Docker
// token specification.
type ResourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims of a berth token.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	Expiry    int64  `json:"exp"`
	NotBefore int64  `json:"nbf"`
	IssuedAt  int64  `json:"iat"`
	ID        string `json:"jti"`
	Kind      string `json:"kind,omitempty"` // user or app
	// Version is the subject's credential version at issue: a token of
	// an older version (the password was reset since) no longer works.
	Version int64 `json:"ver,omitempty"`
	// SubjectID is the user's (or app credential's) id: a user deleted
	// and created again under the same name is another subject.
	SubjectID int64             `json:"sid,omitempty"`
	Access    []ResourceActions `json:"access"`
}

// Allows reports whether the claims grant action on a resource.
func (c Claims) Allows(typ, name, action string) bool {
	for _, ra := range c.Access {
		if ra.Type != typ || ra.Name != name {
			continue
		}
		for _, a := range ra.Actions {
			if a == action || a == "*" {
				return true
			}
		}
	}
	return false
}

type signer struct {
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	kid      string
	audience string
	verified verifiedTokens
}

func parseSeed(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("must be a base64-encoded %d-byte Ed25519 seed", ed25519.SeedSize)
	}
	return b, nil
}

func newSigner(seed, audience string) (*signer, error) {
	b, err := parseSeed(seed)
	if err != nil {
		return nil, err
	}
	key := ed25519.NewKeyFromSeed(b)
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return &signer{key: key, pub: pub, kid: hex.EncodeToString(sum[:8]), audience: audience}, nil
}

var b64 = base64.RawURLEncoding

func (s *signer) sign(c Claims) (string, error) {
	header, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "EdDSA", "kid": s.kid})
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(header) + "." + b64.EncodeToString(body)
	return signing + "." + b64.EncodeToString(ed25519.Sign(s.key, []byte(signing))), nil
}

// Token verification failures.
var (
	ErrTokenInvalid = errors.New("invalid token")
	ErrTokenExpired = errors.New("token expired")
)

// verify checks signature, algorithm, issuer, audience and validity window.
func (s *signer) verify(token string, now time.Time) (Claims, error) {
	c, ok := s.verified.get(token)
	if !ok {
		var err error
		if c, err = s.check(token); err != nil {
			return c, err
		}
		s.verified.put(token, c)
	}
	n := now.Unix()
	if n >= c.Expiry {
		return c, ErrTokenExpired
	}
	if n+30 < c.NotBefore { // 30 s of clock skew between replicas
		return c, ErrTokenInvalid
	}
	return c, nil
}

// check verifies a token's signature and parses its claims: a pure function
// of the token and the key, which verify therefore remembers.
func (s *signer) check(token string) (Claims, error) {
	var c Claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, ErrTokenInvalid
	}
	hb, err1 := b64.DecodeString(parts[0])
	body, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return c, ErrTokenInvalid
	}
	var h struct{ Alg, Kid string }
	if json.Unmarshal(hb, &h) != nil || h.Alg != "EdDSA" {
		return c, ErrTokenInvalid
	}
	if !ed25519.Verify(s.pub, []byte(parts[0]+"."+parts[1]), sig) {
		return c, ErrTokenInvalid
	}
	if json.Unmarshal(body, &c) != nil || c.Issuer != tokenIssuer || c.Audience != s.audience || c.Subject == "" {
		return c, ErrTokenInvalid
	}
	return c, nil
}
