package registry

import (
	"context"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// secretSetting names the HTTP secret in the database's settings.
const secretSetting = "http_secret"

// sharedSecret returns the HTTP secret, which signs upload state and so must
// be the same on every replica. The database decides: replicas starting
// together on empty storage each write a secret of their own there, but only
// the first insert into the settings table wins and every replica reads that
// one. The secret found in storage (/berth/http-secret, all that earlier
// versions kept) is the value offered, so an upgrade keeps the uploads in
// flight valid.
func sharedSecret(ctx context.Context, d storagedriver.StorageDriver, db *metadata.DB) (string, error) {
	offered, err := storage.SharedSecret(ctx, d)
	if err != nil {
		return "", err
	}
	return db.InitSetting(ctx, secretSetting, offered)
}
