package charts

import (
	"errors"
	"fmt"
)

// Limits bound what a chart upload to the classic chart repository may
// hold (config keys charts.*). Zero fields take the defaults.
type Limits struct {
	// MaxArchiveSize bounds the uploaded .tgz, in bytes.
	MaxArchiveSize int64 `yaml:"maxArchiveSize"`
	// MaxUncompressedSize bounds the archive's decompressed tar stream.
	MaxUncompressedSize int64 `yaml:"maxUncompressedSize"`
	// MaxChartYAMLSize bounds Chart.yaml inside the archive.
	MaxChartYAMLSize int64 `yaml:"maxChartYamlSize"`
}

// Default limits.
const (
	DefaultMaxArchiveSize      = 20 << 20
	DefaultMaxUncompressedSize = 100 << 20
	DefaultMaxChartYAMLSize    = 1 << 20
)

// WithDefaults fills in zero limits.
func (l Limits) WithDefaults() Limits {
	if l.MaxArchiveSize <= 0 {
		l.MaxArchiveSize = DefaultMaxArchiveSize
	}
	if l.MaxUncompressedSize <= 0 {
		l.MaxUncompressedSize = DefaultMaxUncompressedSize
	}
	if l.MaxChartYAMLSize <= 0 {
		l.MaxChartYAMLSize = DefaultMaxChartYAMLSize
	}
	return l
}

// Validate checks the limits; errors name the keys as in the YAML file.
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		v   int64
	}{{"charts.maxArchiveSize", l.MaxArchiveSize}, {"charts.maxUncompressedSize", l.MaxUncompressedSize}, {"charts.maxChartYamlSize", l.MaxChartYAMLSize}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, not %d", f.key, f.v))
		}
	}
	if l.MaxUncompressedSize > 0 && l.MaxChartYAMLSize > l.MaxUncompressedSize {
		errs = append(errs, fmt.Errorf("charts.maxChartYamlSize: must not exceed charts.maxUncompressedSize (%d)", l.MaxUncompressedSize))
	}
	return errors.Join(errs...)
}
