package e2e

import (
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestMain makes plain HTTP requests act as the admin of the berth they
// address (berthtest.Main); anonymous ones use berthtest.AnonymousClient.
func TestMain(m *testing.M) { berthtest.Main(m) }
