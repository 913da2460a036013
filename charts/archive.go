package charts

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/berth-registry/berth/ext/dialect"
)

// maxProvSize bounds a provenance file.
const maxProvSize = 1 << 20

// errTarTooLarge is the decompressed stream going over its limit.
var errTarTooLarge = errors.New("decompressed size over the limit")

// boundedReader fails once more than n bytes have been read.
type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n < 0 {
		return 0, errTarTooLarge
	}
	if int64(len(p)) > b.n+1 {
		p = p[:b.n+1]
	}
	k, err := b.r.Read(p)
	b.n -= int64(k)
	if b.n < 0 {
		return k, errTarTooLarge
	}
	return k, err
}

// inspectArchive reads a chart archive to its end and returns its
// Chart.yaml, refusing anything helm would not load or that could harm
// whoever unpacks it: not gzip, not tar, paths that are absolute or climb
// out (..), links leaving the chart, devices, a decompressed stream or a
// Chart.yaml over the limits, entries outside one top directory named
// after the chart.
func inspectArchive(r io.Reader, lim Limits) (*Metadata, error) {
	lim = lim.WithDefaults()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, dialect.Invalidf("the chart is not a gzip archive: %v", err)
	}
	defer gz.Close()
	tr := tar.NewReader(&boundedReader{r: gz, n: lim.MaxUncompressedSize})
	var top string
	var chartYAML []byte
	for n := 0; ; n++ {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, archiveErr(err, lim)
		}
		if hd.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := entryPath(hd.Name)
		if err != nil {
			return nil, err
		}
		dir, rest, _ := strings.Cut(name, "/")
		if top == "" {
			top = dir
		} else if dir != top {
			return nil, dialect.Invalidf("the chart archive holds %q outside its top directory %q", hd.Name, top)
		}
		switch hd.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		case tar.TypeSymlink, tar.TypeLink:
			if err := linkInside(hd, name, top); err != nil {
				return nil, err
			}
		default:
			return nil, dialect.Invalidf("the chart archive entry %q is not a file or directory (type %q)", hd.Name, hd.Typeflag)
		}
		if rest == "Chart.yaml" && hd.Typeflag == tar.TypeReg {
			if hd.Size > lim.MaxChartYAMLSize {
				return nil, dialect.Invalidf("Chart.yaml is %d bytes, over the %d-byte limit", hd.Size, lim.MaxChartYAMLSize)
			}
			if chartYAML, err = io.ReadAll(io.LimitReader(tr, lim.MaxChartYAMLSize+1)); err != nil {
				return nil, archiveErr(err, lim)
			}
		}
	}
	// The gzip trailer (checksum) comes after the tar end marker.
	if _, err := io.Copy(io.Discard, &boundedReader{r: gz, n: lim.MaxUncompressedSize}); err != nil {
		return nil, archiveErr(err, lim)
	}
	if chartYAML == nil {
		return nil, dialect.Invalidf("the chart archive has no <name>/Chart.yaml")
	}
	m, err := parseChartYAML(chartYAML)
	if err != nil {
		return nil, err
	}
	if m.Name != top {
		return nil, dialect.Invalidf("Chart.yaml names the chart %q but the archive's directory is %q", m.Name, top)
	}
	return m, nil
}

func archiveErr(err error, lim Limits) error {
	if errors.Is(err, errTarTooLarge) {
		return dialect.Invalidf("the chart archive decompresses to more than %d bytes", lim.MaxUncompressedSize)
	}
	return dialect.Invalidf("the chart archive is not a valid gzip tar: %v", err)
}

// entryPath validates an entry name and returns it cleaned, relative.
func entryPath(name string) (string, error) {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) > 1 && n[1] == ':') {
		return "", dialect.Invalidf("the chart archive entry %q has an absolute path", name)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", dialect.Invalidf("the chart archive entry %q climbs out of the chart (..)", name)
		}
	}
	clean := path.Clean(n)
	if clean == "." || clean == "" {
		return "", dialect.Invalidf("the chart archive entry %q has no name", name)
	}
	return clean, nil
}

// linkInside refuses a symbolic or hard link whose target leaves the
// chart's top directory.
func linkInside(hd *tar.Header, name, top string) error {
	target := strings.ReplaceAll(hd.Linkname, `\`, "/")
	if target == "" || strings.HasPrefix(target, "/") || (len(target) > 1 && target[1] == ':') {
		return dialect.Invalidf("the chart archive link %q points outside the chart (%q)", hd.Name, hd.Linkname)
	}
	resolved := target // hard links name a path from the archive root
	if hd.Typeflag == tar.TypeSymlink {
		resolved = path.Join(path.Dir(name), target)
	}
	resolved = path.Clean(resolved)
	if resolved != top && !strings.HasPrefix(resolved, top+"/") {
		return dialect.Invalidf("the chart archive link %q points outside the chart (%q)", hd.Name, hd.Linkname)
	}
	return nil
}
