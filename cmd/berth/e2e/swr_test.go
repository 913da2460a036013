package e2e

import "github.com/berth-registry/berth/cmd/berth/berthtest"

// berthtest's SWR client, under the names these tests use.
var (
	swrToken     = berthtest.Token
	swrCall      = berthtest.SWRCall
	tokenHeader  = berthtest.TokenHeader
	mustSWR      = berthtest.MustSWR
	swrTags      = berthtest.SWRTags
	wantSWRError = berthtest.WantSWRError
	swrNames     = berthtest.SWRNames
)
