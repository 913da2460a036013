package builder

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/berth-registry/berth/storage/metadata"
)

// CleanFileName validates a build-context file name: a relative slash path
// without "..", at most 255 characters.
func CleanFileName(name string) (string, error) {
	clean := path.Clean("/" + strings.ReplaceAll(name, `\`, "/"))[1:]
	switch {
	case name == "" || clean == "" || clean == ".":
		return "", errorf(ErrInvalid, "file name is empty")
	case len(clean) > 255 || strings.ContainsRune(clean, 0):
		return "", errorf(ErrInvalid, "file name %q is too long or has a NUL byte", name)
	case strings.Contains(name, ".."):
		return "", errorf(ErrInvalid, "file name %q contains '..'", name)
	}
	return clean, nil
}

// PutFile stores a build-context file, read from r up to the size limits.
func (s *Service) PutFile(ctx context.Context, p Project, name string, r io.Reader) (File, error) {
	name, err := CleanFileName(name)
	if err != nil {
		return File{}, err
	}
	b, err := io.ReadAll(io.LimitReader(r, s.cfg.MaxFileBytes+1))
	if err != nil {
		return File{}, errorf(ErrInvalid, "reading %s: %v", name, err)
	}
	if int64(len(b)) > s.cfg.MaxFileBytes {
		return File{}, errorf(ErrTooLarge, "file %s is over the %d-byte limit (imagebuild.maxFileBytes)", name, s.cfg.MaxFileBytes)
	}
	files, err := s.db.ListBuildFiles(ctx, p.ID)
	if err != nil {
		return File{}, err
	}
	total := int64(len(b))
	for _, f := range files {
		if f.Name != name {
			total += f.Size
		}
	}
	if total > s.cfg.MaxContextBytes {
		return File{}, errorf(ErrTooLarge, "project %s would hold %d bytes of files, over the %d-byte limit (imagebuild.maxContextBytes)", p.Name, total, s.cfg.MaxContextBytes)
	}
	sum := sha256.Sum256(b)
	f := File{Name: name, Size: int64(len(b)), Digest: "sha256:" + hex.EncodeToString(sum[:])}
	return f, s.db.PutBuildFile(ctx, p.ID, metadata.BuildFile{Name: f.Name, Size: f.Size, Digest: f.Digest, CreatedAt: f.CreatedAt}, b)
}

// Files lists a project's build-context files.
func (s *Service) Files(ctx context.Context, p Project) ([]File, error) {
	fs, err := s.db.ListBuildFiles(ctx, p.ID)
	return convert(fs, fileOf), err
}

// DeleteFile removes a build-context file.
func (s *Service) DeleteFile(ctx context.Context, p Project, name string) error {
	return translate(s.db.DeleteBuildFile(ctx, p.ID, name), "file "+name)
}

// materialize writes a build's context into dir: the project's uploaded
// files, then the source archive when the definition names one.
func (s *Service) materialize(ctx context.Context, p Project, dir string, logf func(string, ...any)) error {
	files, err := s.db.ListBuildFiles(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := s.db.BuildFileContent(ctx, p.ID, f.Name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		_ = os.Chtimes(dst, f.CreatedAt, f.CreatedAt)
	}
	logf("build context: %d uploaded file(s)", len(files))
	for _, pl := range p.Plugins {
		if u := attr(pl, "url"); pl.Name == pluginArchive && u != "" {
			logf("build context: downloading source archive %s", u)
			body, err := s.fetch.get(ctx, u, s.cfg.MaxContextBytes)
			if err != nil {
				return err
			}
			n, err := untar(body, dir, s.cfg.MaxContextBytes)
			body.Close()
			if err != nil {
				return fmt.Errorf("source archive %s: %w", u, err)
			}
			logf("build context: %d file(s) from the source archive", n)
		}
	}
	return nil
}

// untar extracts a tar (optionally gzip-compressed) archive into dir:
// regular files and directories only, every path kept inside dir, at most
// max bytes in all.
func untar(r io.Reader, dir string, max int64) (int, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	var total int64
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		name := path.Clean("/" + h.Name)[1:]
		if name == "" || strings.Contains(h.Name, "..") {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return n, err
			}
		case tar.TypeReg:
			if total += h.Size; total > max {
				return n, fmt.Errorf("over the %d-byte limit (imagebuild.maxContextBytes)", max)
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return n, err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode&0o777)|0o600)
			if err != nil {
				return n, err
			}
			_, err = io.CopyN(f, tr, h.Size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, err
			}
			_ = os.Chtimes(dst, h.ModTime, h.ModTime)
			n++
		}
	}
}
