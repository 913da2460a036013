package registry

import "fmt"

// ChartLimits bound what a chart upload to the classic chart repository
// may hold (config keys charts.*). Zero fields take the defaults.
type ChartLimits struct {
	// MaxArchiveSize bounds the uploaded .tgz, in bytes.
	MaxArchiveSize int64 `yaml:"maxArchiveSize"`
	// MaxUncompressedSize bounds the archive's decompressed tar stream.
	MaxUncompressedSize int64 `yaml:"maxUncompressedSize"`
	// MaxChartYAMLSize bounds Chart.yaml inside the archive.
	MaxChartYAMLSize int64 `yaml:"maxChartYamlSize"`
}

// Default chart limits.
const (
	DefaultChartMaxArchiveSize      = 20 << 20
	DefaultChartMaxUncompressedSize = 100 << 20
	DefaultChartMaxChartYAMLSize    = 1 << 20
)

// WithDefaults fills in zero limits.
func (l ChartLimits) WithDefaults() ChartLimits {
	if l.MaxArchiveSize <= 0 {
		l.MaxArchiveSize = DefaultChartMaxArchiveSize
	}
	if l.MaxUncompressedSize <= 0 {
		l.MaxUncompressedSize = DefaultChartMaxUncompressedSize
	}
	if l.MaxChartYAMLSize <= 0 {
		l.MaxChartYAMLSize = DefaultChartMaxChartYAMLSize
	}
	return l
}

func (l ChartLimits) validate() []error {
	var errs []error
	for _, f := range []struct {
		key string
		v   int64
	}{{"charts.maxArchiveSize", l.MaxArchiveSize}, {"charts.maxUncompressedSize", l.MaxUncompressedSize}, {"charts.maxChartYamlSize", l.MaxChartYAMLSize}} {
		if f.v < 0 {
			errs = append(errs, fieldErr(f.key, "must not be negative, not %d", f.v))
		}
	}
	if l.MaxUncompressedSize > 0 && l.MaxChartYAMLSize > l.MaxUncompressedSize {
		errs = append(errs, fieldErr("charts.maxChartYamlSize", "%s", fmt.Sprintf("must not exceed charts.maxUncompressedSize (%d)", l.MaxUncompressedSize)))
	}
	return errs
}

// ChartLimits are the configured chart upload limits.
func (s *Server) ChartLimits() ChartLimits { return s.cfg.Charts.WithDefaults() }
