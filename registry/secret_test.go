package registry

import (
	"context"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// Two replicas starting together on empty storage may each store a secret
// of their own there (the last write wins in storage, but the first one
// already read its own back); through the database they agree anyway.
func TestSharedSecretAgreesAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	db := metadatatest.Open(t, "")
	d := inmemory.New()

	first, err := sharedSecret(ctx, d, db)
	if err != nil || len(first) < 32 {
		t.Fatalf("first replica: %q %v", first, err)
	}
	// The other replica's write lands in storage after the first read it back.
	if err := d.PutContent(ctx, storage.SecretPath, []byte("0123456789abcdef0123456789abcdef-other")); err != nil {
		t.Fatal(err)
	}
	second, err := sharedSecret(ctx, d, db)
	if err != nil || second != first {
		t.Fatalf("second replica's secret %q (%v), want the first's %q", second, err, first)
	}

	// An older berth's secret in storage is kept on upgrade.
	db2 := metadatatest.Open(t, "")
	if got, err := sharedSecret(ctx, d, db2); err != nil || got != "0123456789abcdef0123456789abcdef-other" {
		t.Fatalf("upgrade: secret %q (%v), want the one in storage", got, err)
	}
}
