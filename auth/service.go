package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// AccessKeyPrefix starts every application credential's access key; no
// username may start with it.
const AccessKeyPrefix = "berth-ak-"

// AdminUser is the bootstrapped system administrator.
const AdminUser = "admin"

// Config configures identity and access.
type Config struct {
	// Service is the token service name (the JWT audience).
	Service string `yaml:"service"`
	// TokenTTL is how long an issued token lasts.
	TokenTTL time.Duration `yaml:"tokenTtl"`
	// SigningKey is a base64 Ed25519 seed; empty: generated once and kept in
	// the database, shared by replicas.
	SigningKey string `yaml:"signingKey"`
	// CredentialCacheTTL bounds how long a verified password is remembered
	// (each use still checks the credential version in the database).
	CredentialCacheTTL time.Duration `yaml:"credentialCacheTtl"`
	// MaxFailures within FailureWindow lock a user out from the client
	// address that failed for LockoutPeriod, each further lock in a row
	// twice as long (up to an hour); 0 LockoutPeriod: no locks.
	MaxFailures   int           `yaml:"maxFailures"`
	FailureWindow time.Duration `yaml:"failureWindow"`
	LockoutPeriod time.Duration `yaml:"lockoutPeriod"`
	// AutoCreateProjects lets authenticated users push into (and so
	// create) projects that do not exist yet: the registry's
	// autoCreateProjects, which the identity layer must know too.
	AutoCreateProjects bool `yaml:"-"`
}

// Defaults returns the embedded defaults.
func Defaults() Config {
	return Config{
		Service: "berth", TokenTTL: 5 * time.Minute, CredentialCacheTTL: 5 * time.Minute,
		MaxFailures: 10, FailureWindow: time.Minute, LockoutPeriod: 30 * time.Second,
	}
}

// Validate checks the values; keys are named as in the YAML file.
func (c *Config) Validate() error {
	var errs []error
	if c.Service == "" || strings.ContainsAny(c.Service, "\" ,") {
		errs = append(errs, fmt.Errorf("auth.service: %q must be a non-empty name without quotes, commas or spaces", c.Service))
	}
	// The token specification makes clients treat a token as good for at
	// least 60 s (regctl does): a shorter one expires under them mid-push.
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("auth.tokenTtl: must be between 60s (the token specification's minimum, which clients rely on) and 24h, not %s", c.TokenTTL))
	}
	if c.CredentialCacheTTL < 0 {
		errs = append(errs, errors.New("auth.credentialCacheTtl: must not be negative"))
	}
	if c.MaxFailures < 1 || c.FailureWindow <= 0 || c.LockoutPeriod < 0 {
		errs = append(errs, errors.New("auth.maxFailures, auth.failureWindow, auth.lockoutPeriod: must be positive"))
	}
	if c.SigningKey != "" {
		if _, err := parseSeed(c.SigningKey); err != nil {
			errs = append(errs, fmt.Errorf("auth.signingKey: %v", err))
		}
	}
	return errors.Join(errs...)
}

// Service authenticates and authorizes.
type Service struct {
	cfg      Config
	db       *metadata.DB
	log      *slog.Logger
	cache    *credCache
	throttle *throttle
	signer   *signer
	// principals holds the subjects of recently seen tokens (principalTTL).
	principals tokenPrincipals
	// rights holds a token subject's rights on repositories (rightsTTL).
	rights rightsMemo
	// schemes are the dialects' ways of presenting credentials (AddScheme).
	schemes []Scheme
}

// New returns the service; the signing key comes from cfg or the database.
func New(ctx context.Context, cfg Config, db *metadata.DB, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := cfg.SigningKey
	if seed == "" {
		var err error
		seed, err = db.InitSetting(ctx, "token_signing_key", RandomSecret(32))
		if err != nil {
			return nil, err
		}
	}
	sg, err := newSigner(seed, cfg.Service)
	if err != nil {
		return nil, fmt.Errorf("auth.signingKey: %w", err)
	}
	return &Service{
		cfg: cfg, db: db, log: log, signer: sg,
		cache:    newCredCache(cfg.CredentialCacheTTL),
		throttle: newThrottle(db, log, cfg.MaxFailures, cfg.FailureWindow, cfg.LockoutPeriod),
	}, nil
}

// Bootstrap creates the admin user on first start: with password when
// given (BERTH_ADMIN_PASSWORD), else a random one written to
// dataDir/admin.password (mode 0600) whose path, never content, is logged.
func (s *Service) Bootstrap(ctx context.Context, password, dataDir string) error {
	if _, err := s.db.GetUser(ctx, AdminUser); err == nil {
		return nil
	} else if !errors.Is(err, metadata.ErrNotFound) {
		return err
	}
	generated := password == ""
	if generated {
		password = RandomSecret(18) + "9a"
	} else if err := CheckPolicy(password); err != nil {
		return fmt.Errorf("adminPassword: %w", err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	if _, err := s.db.CreateUser(ctx, metadata.User{Username: AdminUser, PasswordHash: hash, Admin: true}); err != nil {
		if errors.Is(err, metadata.ErrExists) {
			return nil // another replica bootstrapped first
		}
		return err
	}
	if generated {
		path := filepath.Join(dataDir, "admin.password")
		if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing the generated admin password: %w", err)
		}
		_ = os.Chmod(path, 0o600)
		s.log.Warn("created user admin with a generated password; read it from the file, then change it", "file", path)
	} else {
		s.log.Info("created user admin with the password from adminPassword (BERTH_ADMIN_PASSWORD)")
	}
	return nil
}

// Login verifies a username (or access key) and password from the client
// address client, with throttling and the verified-credential cache.
// Unknown users and wrong passwords fail alike: ErrUnauthenticated. A user
// who failed too often from client lately is refused unchecked, with a
// *ThrottledError (ErrThrottled, and ErrUnauthenticated too) saying when to
// try again; the same user from another address is not.
func (s *Service) Login(ctx context.Context, name, password, client string) (Principal, error) {
	if err := s.throttle.blocked(ctx, name, client); err != nil {
		return Anonymous, err
	}
	key := sha256.Sum256([]byte(name + "\x00" + password))
	if p, ok := s.cache.get(ctx, s.db, key); ok {
		return p, nil
	}
	p, version, err := s.verify(ctx, name, password)
	if errors.Is(err, ErrUnauthenticated) {
		s.throttle.fail(ctx, name, client)
	}
	if err != nil {
		return Anonymous, err // a database error is not a failed login
	}
	s.throttle.success(ctx, name, client)
	s.cache.put(key, p, version)
	return p, nil
}

func (s *Service) verify(ctx context.Context, name, password string) (Principal, int64, error) {
	if strings.HasPrefix(name, AccessKeyPrefix) {
		c, err := s.db.GetAppCredential(ctx, name)
		if err != nil && !errors.Is(err, metadata.ErrNotFound) {
			return Anonymous, 0, err
		}
		if !checkHash(c.SecretHash, password) || c.Disabled || (!c.ExpiresAt.IsZero() && time.Now().After(c.ExpiresAt)) {
			return Anonymous, 0, ErrUnauthenticated
		}
		return Principal{Kind: KindApp, Name: c.AccessKey, AppID: c.ID, Scopes: c.Scopes, CredentialVersion: c.CredentialVersion}, c.CredentialVersion, nil
	}
	u, err := s.db.GetUser(ctx, name)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return Anonymous, 0, err
	}
	if !checkHash(u.PasswordHash, password) || u.Disabled {
		return Anonymous, 0, ErrUnauthenticated
	}
	return Principal{Kind: KindUser, Name: u.Username, UserID: u.ID, Admin: u.Admin, CredentialVersion: u.CredentialVersion}, u.CredentialVersion, nil
}

// credCache remembers verified credentials so bcrypt does not run on every
// request. Each hit re-reads the credential version: a password reset or a
// disabled account takes effect at once, on every replica.
type credCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[32]byte]cacheEntry
}

type cacheEntry struct {
	p       Principal
	version int64
	expires time.Time
}

func newCredCache(ttl time.Duration) *credCache {
	return &credCache{ttl: ttl, m: map[[32]byte]cacheEntry{}}
}

func (c *credCache) get(ctx context.Context, db *metadata.DB, key [32]byte) (Principal, bool) {
	if c.ttl <= 0 {
		return Anonymous, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || time.Now().After(e.expires) {
		return Anonymous, false
	}
	var v int64
	var active bool
	var err error
	if e.p.Kind == KindApp {
		v, active, err = db.AppCredentialVersion(ctx, e.p.AppID)
	} else {
		v, active, err = db.CredentialVersion(ctx, e.p.UserID)
	}
	if err != nil || !active || v != e.version {
		c.mu.Lock()
		delete(c.m, key)
		c.mu.Unlock()
		return Anonymous, false
	}
	return e.p, true
}

func (c *credCache) put(key [32]byte, p Principal, version int64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		now := time.Now()
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = cacheEntry{p: p, version: version, expires: time.Now().Add(c.ttl)}
}
