package builder

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is one file or directory of a layer: where it comes from on disk
// and where it goes in the image (absolute, slash-separated).
type entry struct {
	src  string // "" for a directory created by the copy
	dest string
	info fs.FileInfo
}

// writeLayer writes the tar of one COPY/ADD into out, streaming each file
// from the build context in dir (and URLs for ADD into tmp).
func writeLayer(ctx context.Context, op *copyOp, dir, tmp string, fetch *fetcher, maxDownload int64, out io.Writer) (int, error) {
	var entries []entry
	for _, src := range op.srcs {
		if op.add && (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) {
			e, err := download(ctx, fetch, src, op.dest, tmp, maxDownload)
			if err != nil {
				return 0, err
			}
			entries = append(entries, e)
			continue
		}
		rel := path.Clean("/" + src)[1:]
		pattern := filepath.Join(dir, filepath.FromSlash(rel))
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return 0, fmt.Errorf("source %q: %v", src, err)
		}
		if len(matches) == 0 {
			return 0, fmt.Errorf("source %q: no such file in the build context (upload it to the project first)", src)
		}
		dirDest := strings.HasSuffix(op.dest, "/") || len(matches) > 1
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err != nil {
				return 0, err
			}
			if !fi.IsDir() {
				d := op.dest
				if dirDest {
					d = path.Join(op.dest, fi.Name())
				}
				entries = append(entries, entry{src: m, dest: path.Clean(d), info: fi})
				continue
			}
			// A directory's contents go into the destination directory.
			err = filepath.WalkDir(m, func(p string, de fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				fi, err := de.Info()
				if err != nil {
					return err
				}
				r, _ := filepath.Rel(m, p)
				entries = append(entries, entry{src: p, dest: path.Join(op.dest, filepath.ToSlash(r)), info: fi})
				return nil
			})
			if err != nil {
				return 0, err
			}
		}
	}
	return len(entries), writeTar(op, entries, out)
}

// writeTar writes entries, preceded by the parent directories they need,
// sorted by path.
func writeTar(op *copyOp, entries []entry, out io.Writer) error {
	have := map[string]bool{}
	for _, e := range entries {
		have[e.dest] = true
	}
	for _, e := range entries {
		for d := path.Dir(e.dest); d != "/" && !have[d]; d = path.Dir(d) {
			have[d] = true
			entries = append(entries, entry{dest: d})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].dest < entries[j].dest })
	tw := tar.NewWriter(out)
	epoch := time.Unix(0, 0)
	for _, e := range entries {
		if e.dest == "/" {
			continue
		}
		h := &tar.Header{Name: strings.TrimPrefix(e.dest, "/"), Uid: op.uid, Gid: op.gid, Format: tar.FormatPAX}
		switch {
		case e.info == nil:
			h.Typeflag, h.Mode, h.ModTime, h.Uid, h.Gid = tar.TypeDir, 0o755, epoch, 0, 0
		case e.info.IsDir():
			h.Typeflag, h.Mode, h.ModTime = tar.TypeDir, int64(e.info.Mode().Perm()), e.info.ModTime()
		case e.info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(e.src)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname, h.Mode, h.ModTime = tar.TypeSymlink, target, 0o777, e.info.ModTime()
		case e.info.Mode().IsRegular():
			h.Typeflag, h.Mode, h.Size, h.ModTime = tar.TypeReg, int64(e.info.Mode().Perm()), e.info.Size(), e.info.ModTime()
		default:
			continue // devices, sockets: never in a build context
		}
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if op.chmod >= 0 && e.info != nil && h.Typeflag != tar.TypeSymlink {
			h.Mode = op.chmod
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, h.Size)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// download fetches an ADD URL into tmp; it lands at dest (or in dest/
// under the URL's base name).
func download(ctx context.Context, fetch *fetcher, rawURL, dest, tmp string, max int64) (entry, error) {
	body, err := fetch.get(ctx, rawURL, max)
	if err != nil {
		return entry{}, err
	}
	defer body.Close()
	f, err := os.CreateTemp(tmp, "add-")
	if err != nil {
		return entry{}, err
	}
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		return entry{}, err
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return entry{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return entry{}, err
	}
	if strings.HasSuffix(dest, "/") {
		u, _ := url.Parse(rawURL)
		base := path.Base(u.Path)
		if base == "/" || base == "." {
			return entry{}, fmt.Errorf("ADD %s: cannot name the file from the URL; give a file destination", rawURL)
		}
		dest = path.Join(dest, base)
	}
	return entry{src: f.Name(), dest: path.Clean(dest), info: fi}, nil
}
