// Package e2e holds black-box tests of whole workflows against a running
// berth process, driven by real clients (crane, oras, regctl, helm, skopeo).
package e2e

import (
	"io"
	"net/http"
	"testing"
)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
