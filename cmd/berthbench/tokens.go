package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// berthToken asks berth's /service/token for a bearer token with the given
// scopes, as user (Basic), or anonymously when user is empty.
func berthToken(ctx context.Context, hc *http.Client, s *server, user, pw string, scopes ...string) (string, error) {
	q := url.Values{"service": {"berth"}, "scope": scopes}
	c := call{method: http.MethodGet, url: s.base + "/service/token?" + q.Encode()}
	if user != "" {
		c.authz = basicAuth(user, pw)
	}
	code, _, body, err := do(ctx, hc, c)
	if err := expect("berth: token for "+user, code, body, err, http.StatusOK); err != nil {
		return "", err
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		return "", fmt.Errorf("berth: token answer %q: %v", body, err)
	}
	return "Bearer " + tok.Token, nil
}

// stockIssuer is a token issuer the stock registry trusts: an Ed25519 key
// (the algorithm berth signs with) with a self-signed certificate in the
// registry's rootcertbundle. Tokens name the key by its JWK thumbprint
// (`kid`), the lookup distribution does for a key from the bundle, so no
// certificate chain is verified per request.
type stockIssuer struct {
	key        ed25519.PrivateKey
	kid        string
	bundlePath string
}

const (
	stockIssuerName = "berthbench-issuer"
	stockService    = "berthbench-stock"
)

func newStockIssuer(dir string) (*stockIssuer, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: stockIssuerName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "stock-token-root.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return &stockIssuer{key: key, kid: jwkThumbprint(pub), bundlePath: path}, nil
}

// authConfig is the stock registry's `auth: token` section.
func (i *stockIssuer) authConfig() string {
	return fmt.Sprintf("auth:\n  token: {realm: %q, service: %s, issuer: %s, rootcertbundle: %s}\n",
		"http://127.0.0.1:1/token", stockService, stockIssuerName, i.bundlePath)
}

// mint signs a token granting actions on repository repo, valid for ttl.
func (i *stockIssuer) mint(repo string, actions []string, ttl time.Duration) (string, error) {
	now := time.Now()
	header := map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": i.kid}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	claims := struct {
		Issuer     string   `json:"iss"`
		Subject    string   `json:"sub"`
		Audience   []string `json:"aud"`
		Expiration int64    `json:"exp"`
		NotBefore  int64    `json:"nbf"`
		IssuedAt   int64    `json:"iat"`
		JWTID      string   `json:"jti"`
		Access     []access `json:"access"`
	}{
		Issuer: stockIssuerName, Subject: "bench", Audience: []string{stockService},
		Expiration: now.Add(ttl).Unix(), NotBefore: now.Add(-time.Minute).Unix(), IssuedAt: now.Unix(),
		JWTID:  fmt.Sprintf("berthbench-%d", now.UnixNano()),
		Access: []access{{Type: "repository", Name: repo, Actions: actions}},
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sig := ed25519.Sign(i.key, []byte(signing))
	return "Bearer " + strings.Join([]string{signing, enc.EncodeToString(sig)}, "."), nil
}

// jwkThumbprint is the RFC 7638 thumbprint of an Ed25519 public key, the key
// id distribution gives each key of its rootcertbundle.
func jwkThumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
