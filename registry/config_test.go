package registry

import (
	"context"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"public url", func(c *Config) { c.PublicURL = "https://registry.example.com" }, ""},
		{"public url with path", func(c *Config) { c.PublicURL = "https://x.example.com/sub" }, "publicUrl"},
		{"public url without scheme", func(c *Config) { c.PublicURL = "x.example.com" }, "publicUrl"},
		{"redis cache", func(c *Config) { c.Cache = CacheRedis; c.Redis.Addr = "127.0.0.1:6379" }, ""},
		{"catalog zero", func(c *Config) { c.CatalogMaxEntries = 0 }, "catalogMaxEntries"},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -1 }, "shutdownTimeout"},
		{"storage errors surface", func(c *Config) { c.Storage.Driver = "tape" }, "storage.driver"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.UseDataDir(t.TempDir())
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v does not name %q", err, tc.want)
			}
		})
	}
}

// distribution's NewApp panics on configurations it cannot use; berth turns
// that into an error.
func TestNewAppPanicBecomesError(t *testing.T) {
	dc := &configuration.Configuration{Storage: configuration.Storage{"nosuchdriver": configuration.Parameters{}}}
	app, err := newApp(context.Background(), dc)
	if err == nil || app != nil {
		t.Fatalf("want error, got app=%v err=%v", app, err)
	}
	if !strings.Contains(err.Error(), "nosuchdriver") {
		t.Errorf("error does not say what is wrong: %v", err)
	}
}

func TestDistributionConfig(t *testing.T) {
	c := Defaults()
	c.Storage.UseDataDir("/d")
	dc := c.distributionConfig("0123456789abcdef0123")
	if dc.HTTP.Secret != "0123456789abcdef0123" || dc.Catalog.MaxEntries != 1000 || !dc.Validation.Enabled {
		t.Fatalf("unexpected: %+v", dc.HTTP)
	}
	if mw := dc.Middleware["storage"]; len(mw) != 1 || mw[0].Name != "berth-guard" || mw[0].Options["timeout"] != "30s" {
		t.Fatalf("guard middleware not configured: %+v", mw)
	}
}
