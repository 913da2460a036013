package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtOCILayer    = "application/vnd.oci.image.layer.v1.tar"
	acceptAll     = mtOCIManifest + ", application/vnd.oci.image.index.v1+json, " +
		"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
)

// newHTTPClient keeps up to conns idle keep-alive connections per server and
// never asks for compression (blobs are incompressible anyway).
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns * 4,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}
}

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// call is one HTTP request to a server.
type call struct {
	method, url, authz, contentType string
	header                          map[string]string
	body                            io.Reader
	size                            int64 // body length; -1 unknown
}

// do sends c and returns status, headers and the body (read fully, at most
// 8 MiB). A transport error is returned as error.
func do(ctx context.Context, hc *http.Client, c call) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, c.body)
	if err != nil {
		return 0, nil, nil, err
	}
	if c.body != nil && c.size >= 0 {
		req.ContentLength = c.size
		if c.size == 0 {
			req.Body = http.NoBody
		}
	}
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// expect checks the status of a request and describes a failure.
func expect(what string, code int, body []byte, err error, want ...int) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, w := range want {
		if code == w {
			return nil
		}
	}
	b := string(body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Errorf("%s: HTTP %d: %s", what, code, strings.TrimSpace(b))
}

// abs resolves a Location header against the server.
func (s *server) abs(loc string) string {
	if strings.HasPrefix(loc, "/") {
		return s.base + loc
	}
	return loc
}

func withQuery(u, kv string) string {
	if strings.Contains(u, "?") {
		return u + "&" + kv
	}
	return u + "?" + kv
}

// pushSmallBlob uploads data into repo (POST + monolithic PUT) with authz.
func (s *server) pushSmallBlob(ctx context.Context, hc *http.Client, authz, repo string, data []byte) error {
	code, h, body, err := do(ctx, hc, call{method: http.MethodPost, url: s.base + "/v2/" + repo + "/blobs/uploads/", authz: authz})
	if err := expect(s.name+": start upload in "+repo, code, body, err, http.StatusAccepted); err != nil {
		return err
	}
	u := withQuery(s.abs(h.Get("Location")), "digest="+digestOf(data))
	code, _, body, err = do(ctx, hc, call{method: http.MethodPut, url: u, authz: authz,
		contentType: "application/octet-stream", body: bytes.NewReader(data), size: int64(len(data))})
	return expect(s.name+": put blob in "+repo, code, body, err, http.StatusCreated)
}

// mountBlob mounts a blob of from into repo, uploading it when the server
// answers with a plain upload session.
func (s *server) mountBlob(ctx context.Context, hc *http.Client, authz, repo, from string, data []byte) error {
	q := url.Values{"mount": {digestOf(data)}, "from": {from}}
	code, h, body, err := do(ctx, hc, call{method: http.MethodPost, url: s.base + "/v2/" + repo + "/blobs/uploads/?" + q.Encode(), authz: authz})
	if err := expect(s.name+": mount into "+repo, code, body, err, http.StatusCreated, http.StatusAccepted); err != nil || code == http.StatusCreated {
		return err
	}
	u := withQuery(s.abs(h.Get("Location")), "digest="+digestOf(data))
	code, _, body, err = do(ctx, hc, call{method: http.MethodPut, url: u, authz: authz,
		contentType: "application/octet-stream", body: bytes.NewReader(data), size: int64(len(data))})
	return expect(s.name+": put blob in "+repo, code, body, err, http.StatusCreated)
}

func (s *server) putManifest(ctx context.Context, hc *http.Client, authz, repo, ref string, man []byte) error {
	code, _, body, err := do(ctx, hc, call{method: http.MethodPut, url: s.base + "/v2/" + repo + "/manifests/" + ref,
		authz: authz, contentType: mtOCIManifest, body: bytes.NewReader(man), size: int64(len(man))})
	return expect(s.name+": put manifest "+repo+":"+ref, code, body, err, http.StatusCreated)
}

// image is one tiny single-layer OCI image.
type image struct {
	layer, config, manifest []byte
}

// newImage builds the tiny image; a non-empty note makes the manifest (not
// the blobs) unique through an annotation.
func newImage(note string) image {
	layer := []byte("berthbench layer\n")
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(layer)}},
	})
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mtOCIManifest,
		"config":        map[string]any{"mediaType": mtOCIConfig, "digest": digestOf(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": mtOCILayer, "digest": digestOf(layer), "size": len(layer)}},
	}
	if note != "" {
		m["annotations"] = map[string]string{"org.example.berthbench": note}
	}
	man, _ := json.Marshal(m)
	return image{layer: layer, config: config, manifest: man}
}

// pushImage uploads the image's blobs into repo and its manifest under tag.
func (s *server) pushImage(ctx context.Context, hc *http.Client, authz, repo, tag string, img image) error {
	for _, b := range [][]byte{img.layer, img.config} {
		if err := s.pushSmallBlob(ctx, hc, authz, repo, b); err != nil {
			return err
		}
	}
	return s.putManifest(ctx, hc, authz, repo, tag, img.manifest)
}

// parallel runs fn(0..n-1) on conc goroutines and returns the first error;
// it stops handing out work after an error or when ctx ends.
func parallel(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(conc, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// nextLink parses `<url>; rel="next"` and resolves it against s.
func (s *server) nextLink(link string) string {
	start, end := strings.Index(link, "<"), strings.Index(link, ">")
	if start < 0 || end < start || !strings.Contains(link[end:], `rel="next"`) {
		return ""
	}
	return s.abs(link[start+1 : end])
}
