// Package e2e tests what deploy/ ships, end to end: the container image
// (built with `make image` and run by a real Docker engine), the compose
// file and the Helm chart (linted, rendered, validated against the
// Kubernetes schemas, and pushed to and pulled from a running berth).
package e2e

import (
	"os"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

func TestMain(m *testing.M) {
	berthtest.InstallAuthTransport()
	code := m.Run()
	removeImages()
	os.Exit(code)
}
