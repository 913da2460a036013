package registry

import (
	"github.com/distribution/distribution/v3/configuration"

	"github.com/berth-registry/berth/storage"
)

// distributionConfig builds distribution's configuration in code, setting
// everything its YAML parser would have defaulted, so no YAML of
// distribution's ever needs to exist.
func (c *Config) distributionConfig(secret string) *configuration.Configuration {
	cache := c.Cache
	if cache == CacheNone {
		cache = ""
	}
	guard := configuration.Parameters{"timeout": c.Storage.Timeout.String()}
	if c.Storage.Driver == storage.DriverFilesystem {
		guard["fsroot"] = c.Storage.Filesystem.RootDirectory
	}
	dc := &configuration.Configuration{
		Storage: c.Storage.DistributionStorage(cache),
		Middleware: map[string][]configuration.Middleware{
			"storage": {{
				Name:    storage.GuardMiddleware,
				Options: guard,
			}},
		},
		Catalog: configuration.Catalog{MaxEntries: c.CatalogMaxEntries},
	}
	dc.Log.Level = "info"
	dc.Log.Formatter = "text"
	dc.Log.AccessLog.Disabled = true
	dc.HTTP.Secret = secret
	dc.HTTP.Host = c.PublicURL
	dc.Validation.Enabled = true
	if c.ForeignLayerURLs != "" {
		dc.Validation.Manifests.URLs.Allow = []string{c.ForeignLayerURLs}
	}
	if c.Cache == CacheRedis {
		dc.Redis.Options.Addrs = []string{c.Redis.Addr}
		dc.Redis.Options.Password = c.Redis.Password
		dc.Redis.Options.DB = c.Redis.DB
	}
	return dc
}
