package builder

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/berth-registry/berth/registry/domain"
)

// Config configures the image market's builder (YAML key imagebuild).
type Config struct {
	// Workers is how many builds run at once.
	Workers int `yaml:"workers"`
	// QueueSize bounds the builds waiting for a worker; more are refused.
	QueueSize int `yaml:"queueSize"`
	// Timeout bounds one build.
	Timeout time.Duration `yaml:"timeout"`
	// BuildkitAddr hands whole builds (RUN included) to a BuildKit daemon
	// through buildctl, e.g. tcp://buildkitd:1234. Empty: the built-in
	// daemonless builder, which cannot RUN.
	BuildkitAddr string `yaml:"buildkitAddr"`
	// RemotePulls lets FROM name images on other registries.
	RemotePulls bool `yaml:"remotePulls"`
	// DefaultCluster is the registry project of definitions created
	// without a Cluster.
	DefaultCluster string `yaml:"defaultCluster"`
	// MaxFileBytes bounds one uploaded build-context file (kept in the
	// metadata database); MaxContextBytes bounds a project's files
	// together and a downloaded source archive.
	MaxFileBytes    int64 `yaml:"maxFileBytes"`
	MaxContextBytes int64 `yaml:"maxContextBytes"`
	// FetchAllow lists the networks (CIDR prefixes or addresses, separated
	// by commas) downloads may reach besides public addresses: loopback,
	// private, link-local (cloud metadata) and other non-public addresses
	// are refused unless listed here (see fetch.go).
	FetchAllow string `yaml:"fetchAllow"`
}

// Defaults returns the embedded defaults.
func Defaults() Config {
	return Config{
		Workers: 2, QueueSize: 64, Timeout: 30 * time.Minute, DefaultCluster: domain.DefaultProject,
		MaxFileBytes: 16 << 20, MaxContextBytes: 256 << 20,
	}
}

// Validate checks the values; keys are named as in the YAML file.
func (c *Config) Validate() error {
	var errs []error
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("imagebuild.workers: must be between 1 and 64, not %d", c.Workers))
	}
	if c.QueueSize < 0 {
		errs = append(errs, errors.New("imagebuild.queueSize: must not be negative"))
	}
	if c.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("imagebuild.timeout: must be at least 1s, not %s", c.Timeout))
	}
	if c.BuildkitAddr != "" {
		if u, err := url.Parse(c.BuildkitAddr); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("imagebuild.buildkitAddr: %q must be an address like tcp://host:1234 or unix:///run/buildkit/buildkitd.sock", c.BuildkitAddr))
		}
	}
	if err := domain.ValidateProjectName(c.DefaultCluster); err != nil {
		errs = append(errs, fmt.Errorf("imagebuild.defaultCluster: %v", err))
	}
	if _, err := ParseFetchAllow(c.FetchAllow); err != nil {
		errs = append(errs, fmt.Errorf("imagebuild.fetchAllow: %v", err))
	}
	if c.MaxFileBytes < 1 || c.MaxContextBytes < c.MaxFileBytes {
		errs = append(errs, errors.New("imagebuild.maxFileBytes, imagebuild.maxContextBytes: must be positive, the context at least one file"))
	}
	return errors.Join(errs...)
}
