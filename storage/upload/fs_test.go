package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/distribution/v3"
	diststorage "github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const testRepo = "library/up"

func fsStore(t *testing.T, buffered bool) (*Store, storagedriver.StorageDriver, string) {
	t.Helper()
	root := t.TempDir()
	d := filesystemDriver(t, root)
	return NewFilesystem(d, FilesystemOptions{RootDirectory: root, Buffered: buffered}), d, root
}

func filesystemDriver(tb testing.TB, root string) storagedriver.StorageDriver {
	tb.Helper()
	d, err := filesystem.FromParameters(map[string]any{"rootdirectory": root})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// push sends data in requests of the given sizes (the last request is the
// commit, with whatever is left as its body) and commits with dgst, as
// distribution's handlers drive a writer: a new Writer per request.
func push(t *testing.T, ctx context.Context, s *Store, data []byte, chunks []int, dgst digest.Digest) (v1.Descriptor, error) {
	t.Helper()
	w, err := s.Create(ctx, testRepo)
	if err != nil {
		t.Fatal(err)
	}
	id := w.ID()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	off := 0
	for _, n := range chunks {
		w, err := s.Resume(ctx, testRepo, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.Size() != int64(off) {
			t.Fatalf("resumed at %d, want %d", w.Size(), off)
		}
		if _, err := w.ReadFrom(bytes.NewReader(data[off : off+n])); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	w, err = s.Resume(WithHint(ctx, Hint{Digest: dgst, Length: int64(len(data) - off)}), testRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(data[off:])); err != nil {
		t.Fatal(err)
	}
	desc, err := w.Commit(ctx, v1.Descriptor{Digest: dgst})
	if err != nil {
		_ = w.Cancel(ctx)
	}
	return desc, err
}

func TestFilesystemUploads(t *testing.T) {
	ctx := context.Background()
	big := randomBytes(1, 3*bufSize+777)
	sum512 := sha512.Sum512(big)
	sha512Digest := digest.NewDigestFromBytes(digest.SHA512, sum512[:])
	cases := []struct {
		name   string
		data   []byte
		chunks []int // PATCH sizes before the final PUT
		digest digest.Digest
		ok     bool
	}{
		{"monolithic", big, nil, digest.FromBytes(big), true},
		{"empty blob", nil, nil, digest.FromBytes(nil), true},
		{"chunks of 1 MiB", big, []int{bufSize, bufSize, bufSize}, digest.FromBytes(big), true},
		{"unaligned chunks", big, []int{1, 4095, 5000, bufSize + 3}, digest.FromBytes(big), true},
		{"one PATCH, empty PUT", big, []int{len(big)}, digest.FromBytes(big), true},
		{"sha512, monolithic", big, nil, sha512Digest, true},
		{"sha512, chunked", big, []int{100000, 2 * bufSize}, sha512Digest, true},
		{"wrong digest", big, nil, digest.FromString("something else"), false},
		{"wrong digest, chunked", big, []int{bufSize}, digest.FromString("something else"), false},
		{"wrong sha512", big, nil, digest.SHA512.FromString("x"), false},
	}
	for _, buffered := range []bool{false, true} {
		for _, c := range cases {
			name := c.name
			if buffered {
				name += ", buffered"
			}
			t.Run(name, func(t *testing.T) {
				s, d, root := fsStore(t, buffered)
				desc, err := push(t, ctx, s, c.data, c.chunks, c.digest)
				canonical := digest.FromBytes(c.data)
				blob := filepath.Join(root, blobDataPath(canonical))
				if !c.ok {
					var inv distribution.ErrBlobInvalidDigest
					if !errors.As(err, &inv) {
						t.Fatalf("commit with a wrong digest: %v, want ErrBlobInvalidDigest", err)
					}
					if _, err := os.Stat(blob); !os.IsNotExist(err) {
						t.Errorf("the blob was stored: %v", err)
					}
					assertNoUploads(t, root)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if desc.Digest != canonical || desc.Size != int64(len(c.data)) {
					t.Errorf("descriptor %s %d, want %s %d", desc.Digest, desc.Size, canonical, len(c.data))
				}
				got, err := os.ReadFile(blob)
				if err != nil || !bytes.Equal(got, c.data) {
					t.Fatalf("blob content differs (%d bytes, %v)", len(got), err)
				}
				for _, l := range []digest.Digest{canonical, c.digest} {
					link, err := d.GetContent(ctx, layerLinkPath(testRepo, l))
					if err != nil || string(link) != canonical.String() {
						t.Errorf("link %s: %q %v", l, link, err)
					}
				}
				assertNoUploads(t, root)
			})
		}
	}
}

func assertNoUploads(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, v2Root, "repositories", testRepo, "_uploads")
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("upload directories left behind: %v", ents)
	}
}

// A lost (or torn) hash state costs a read of the upload at commit, never
// a wrong answer.
func TestFilesystemLostHashState(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"removed", "torn"} {
		t.Run(damage, func(t *testing.T) {
			s, _, root := fsStore(t, false)
			data := randomBytes(3, 2*bufSize+99)
			w, _ := s.Create(ctx, testRepo)
			id := w.ID()
			w, _ = s.Resume(ctx, testRepo, id)
			if _, err := w.ReadFrom(bytes.NewReader(data[:bufSize+1])); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(root, hashStatePath(testRepo, id, stateAlg, bufSize+1))
			if _, err := os.Stat(state); err != nil {
				t.Fatalf("no hash state kept: %v", err)
			}
			if damage == "removed" {
				os.Remove(state)
			} else {
				os.WriteFile(state, []byte("sha\x03"), 0o644)
			}
			w, err := s.Resume(ctx, testRepo, id)
			if err != nil {
				t.Fatal(err)
			}
			if w.h != nil {
				t.Fatal("a damaged hash state was used")
			}
			if _, err := w.ReadFrom(bytes.NewReader(data[bufSize+1:])); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(ctx, v1.Descriptor{Digest: digest.FromBytes(data)}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, blobDataPath(digest.FromBytes(data))))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("blob differs: %v", err)
			}
		})
	}
}

// Uploads are written in distribution's layout: distribution resumes and
// commits what berth started, and berth resumes and commits what
// distribution started.
func TestFilesystemInteroperatesWithDistribution(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(5, 2*bufSize+4321)
	named, _ := reference.WithName(testRepo)
	for _, first := range []string{"berth", "distribution"} {
		t.Run(first+" first", func(t *testing.T) {
			s, d, root := fsStore(t, false)
			reg, err := diststorage.NewRegistry(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			repo, err := reg.Repository(ctx, named)
			if err != nil {
				t.Fatal(err)
			}
			half := bufSize + 1
			var id string
			if first == "berth" {
				w, _ := s.Create(ctx, testRepo)
				id = w.ID()
				w, _ = s.Resume(ctx, testRepo, id)
				w.ReadFrom(bytes.NewReader(data[:half]))
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				bw, err := repo.Blobs(ctx).Resume(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if bw.Size() != int64(half) {
					t.Fatalf("distribution resumed at %d, want %d", bw.Size(), half)
				}
				bw.ReadFrom(bytes.NewReader(data[half:]))
				if _, err := bw.Commit(ctx, v1.Descriptor{Digest: digest.FromBytes(data)}); err != nil {
					t.Fatal(err)
				}
			} else {
				bw, err := repo.Blobs(ctx).Create(ctx)
				if err != nil {
					t.Fatal(err)
				}
				id = bw.ID()
				bw.ReadFrom(bytes.NewReader(data[:half]))
				if err := bw.Close(); err != nil {
					t.Fatal(err)
				}
				w, err := s.Resume(ctx, testRepo, id)
				if err != nil {
					t.Fatal(err)
				}
				if w.Size() != int64(half) || w.h == nil {
					t.Fatalf("berth resumed at %d (hash state found: %v), want %d", w.Size(), w.h != nil, half)
				}
				w.ReadFrom(bytes.NewReader(data[half:]))
				if _, err := w.Commit(ctx, v1.Descriptor{Digest: digest.FromBytes(data)}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(filepath.Join(root, blobDataPath(digest.FromBytes(data))))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("blob differs: %v", err)
			}
			if sum := sha256.Sum256(got); digest.NewDigestFromBytes(digest.SHA256, sum[:]) != digest.FromBytes(data) {
				t.Fatal("digest")
			}
		})
	}
}

// Two requests on one upload take turns: the second one resumes where the
// first left the upload, never at the same offset.
func TestFilesystemOneWriterAtATime(t *testing.T) {
	ctx := context.Background()
	s, _, _ := fsStore(t, false)
	w, _ := s.Create(ctx, testRepo)
	id := w.ID()
	first, err := s.Resume(ctx, testRepo, id)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan *Writer)
	go func() {
		w, err := s.Resume(ctx, testRepo, id)
		if err != nil {
			t.Error(err)
		}
		second <- w
	}()
	data := randomBytes(11, 3*bufSize)
	if _, err := first.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	w2 := <-second
	if w2 == nil {
		t.FailNow()
	}
	defer w2.Close()
	if w2.Size() != int64(len(data)) {
		t.Fatalf("the second request resumed at %d while the first wrote %d bytes", w2.Size(), len(data))
	}
}
