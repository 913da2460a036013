package berthtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
)

// TarEntry is one entry of a crafted chart archive.
type TarEntry struct {
	Name, Body, Link string
	Type             byte // tar.TypeReg when 0
}

// CraftTgz writes a gzipped tar of entries, whatever they hold (hostile
// archives included).
func CraftTgz(t testing.TB, entries ...TarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hd := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: 0o644}
		if e.Type == 0 {
			hd.Typeflag, hd.Size = tar.TypeReg, int64(len(e.Body))
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(e.Body))
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// UploadChart posts a chart (and provenance file) to the chart API as
// user ("" anonymous) and returns the status and body.
func UploadChart(t testing.TB, b *Berth, project string, tgz, prov []byte, query, user, pw string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("chart", "chart.tgz")
	_, _ = fw.Write(tgz)
	if prov != nil {
		pw, _ := mw.CreateFormFile("prov", "chart.tgz.prov")
		_, _ = pw.Write(prov)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.URL("/api/chartrepo/"+project+"/charts"+query), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return SendAs(t, req, user, pw)
}

// GetAs fetches a path as user ("" anonymous).
func GetAs(t testing.TB, b *Berth, path, user, pw string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.URL(path), nil)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header
}
