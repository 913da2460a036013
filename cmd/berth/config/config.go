// Package config loads berth's settings: embedded defaults, then a YAML file,
// then BERTH_* environment variables, then command-line flags, each layer
// overriding the one before. Unknown keys and bad values are errors that name
// the key.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/charts"
	"github.com/berth-registry/berth/ext/ccr"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/storage"
)

// EnvPrefix starts the name of every environment variable berth reads.
const EnvPrefix = "BERTH_"

// EnvConfigFile names the config file when --config is not given.
const EnvConfigFile = EnvPrefix + "CONFIG"

// Config is every setting of `berth serve`.
type Config struct {
	// Addr is the listen address, HOST:PORT.
	Addr string `yaml:"addr"`
	// DataDir holds the embedded defaults' state (filesystem storage).
	DataDir string `yaml:"dataDir"`
	Log     Log    `yaml:"log"`
	// AdminPassword is the initial password of the admin user, used only
	// when that user is first created. Empty: a random one is written to
	// <dataDir>/admin.password.
	AdminPassword string      `yaml:"adminPassword"`
	Auth          auth.Config `yaml:"auth"`
	// CCR configures the CCR OpenAPI dialect (its instance ids).
	CCR ccr.Config `yaml:"ccr"`
	// ImageBuild configures the image market's builder.
	ImageBuild builder.Config `yaml:"imagebuild"`

	registry.Config `yaml:",inline"`

	// Charts bounds uploads to the classic Helm chart repository.
	Charts charts.Limits `yaml:"charts"`
}

// Log configures berth's structured log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns the embedded defaults.
func Default() Config {
	return Config{
		Addr:       "127.0.0.1:5000",
		DataDir:    "berth-data",
		Log:        Log{Level: "info", Format: "text"},
		Auth:       auth.Defaults(),
		CCR:        ccr.Defaults(),
		ImageBuild: builder.Defaults(),
		Config:     registry.Defaults(),
		Charts:     charts.Limits{}.WithDefaults(),
	}
}

// Flags are the command-line overrides; empty fields are not set.
type Flags struct {
	ConfigFile  string
	Addr        string
	DataDir     string
	LogLevel    string
	DatabaseURL string
}

// Load builds the configuration from defaults, the config file (flag, else
// $BERTH_CONFIG), the environment and the flags, then validates it.
func Load(flags Flags, environ []string) (Config, error) {
	cfg := Default()
	env := envMap(environ)
	file := flags.ConfigFile
	if file == "" {
		file = env[EnvConfigFile]
	}
	delete(env, EnvConfigFile)
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", file, err)
		}
	}
	if err := applyEnv(env, &cfg); err != nil {
		return cfg, err
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&cfg.Addr, flags.Addr}, {&cfg.DataDir, flags.DataDir}, {&cfg.Log.Level, flags.LogLevel},
		{&cfg.Database.URL, flags.DatabaseURL},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if cfg.DataDir != "" {
		abs, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return cfg, fmt.Errorf("dataDir: %w", err)
		}
		cfg.DataDir = abs
	}
	cfg.UseDataDir(cfg.DataDir)
	return cfg, cfg.Validate()
}

// Validate checks every setting and reports all problems at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, &storage.FieldError{Key: "addr", Msg: "must not be empty"})
	} else if _, port, err := splitHostPort(c.Addr); err != nil {
		errs = append(errs, &storage.FieldError{Key: "addr", Msg: fmt.Sprintf("%q is not HOST:PORT: %v", c.Addr, err)})
	} else if port == "" {
		errs = append(errs, &storage.FieldError{Key: "addr", Msg: fmt.Sprintf("%q has no port", c.Addr)})
	}
	if c.DataDir == "" {
		errs = append(errs, &storage.FieldError{Key: "dataDir", Msg: "must not be empty"})
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		errs = append(errs, &storage.FieldError{Key: "log.level", Msg: err.Error()})
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, &storage.FieldError{Key: "log.format", Msg: fmt.Sprintf("must be text or json, not %q", c.Log.Format)})
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.CCR.Validate(); err != nil {
		errs = append(errs, &storage.FieldError{Key: "ccr.instances", Msg: err.Error()})
	}
	if c.AdminPassword != "" {
		if err := auth.CheckPolicy(c.AdminPassword); err != nil {
			errs = append(errs, &storage.FieldError{Key: "adminPassword", Msg: err.Error()})
		}
	}
	if err := c.ImageBuild.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Charts.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			m[k] = v
		}
	}
	return m
}
