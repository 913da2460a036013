package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// SecretPath is where berth keeps the HTTP secret that signs upload state,
// beside distribution's own tree, so every replica on the same storage
// shares it without configuration.
const SecretPath = "/berth/http-secret"

// SharedSecret returns the HTTP secret stored in d, creating it on first use.
// When two replicas race to create it, both end up using what was stored last
// being re-read after the write.
func SharedSecret(ctx context.Context, d storagedriver.StorageDriver) (string, error) {
	b, err := d.GetContent(ctx, SecretPath)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	var nf storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &nf) {
		return "", fmt.Errorf("storage: reading %s: %w", SecretPath, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	if err := d.PutContent(ctx, SecretPath, []byte(hex.EncodeToString(raw))); err != nil {
		return "", fmt.Errorf("storage: writing %s: %w", SecretPath, err)
	}
	b, err = d.GetContent(ctx, SecretPath)
	if err != nil {
		return "", fmt.Errorf("storage: reading %s: %w", SecretPath, err)
	}
	return strings.TrimSpace(string(b)), nil
}
