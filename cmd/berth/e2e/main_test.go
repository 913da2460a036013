package e2e

import (
	"os"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestMain makes plain HTTP requests in these tests act as the admin of the
// berth they address; tests of anonymous access use berthtest.AnonymousClient.
func TestMain(m *testing.M) {
	berthtest.InstallAuthTransport()
	os.Exit(m.Run())
}
