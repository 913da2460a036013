package e2e

import "github.com/berth-registry/berth/cmd/berth/berthtest"

// berthtest's plain-HTTP clients, under the names these tests use.
type rawImage = berthtest.RawImage

var (
	readAll        = berthtest.ReadAll
	basicAuth      = berthtest.BasicAuth
	apiCall        = berthtest.APICall
	sendAs         = berthtest.SendAs
	mustAPI        = berthtest.MustAPI
	waitFor        = berthtest.WaitFor
	sha            = berthtest.Sha
	pad            = berthtest.Pad
	startUpload    = berthtest.StartUpload
	withDigest     = berthtest.WithDigest
	pushBlob       = berthtest.PushBlob
	putManifest    = berthtest.PutManifest
	pushRawImage   = berthtest.PushRawImage
	pushRawIndex   = berthtest.PushRawIndex
	deleteManifest = berthtest.DeleteManifest
	layerBytes     = berthtest.LayerBytes
	assertShape    = berthtest.AssertShape
	seedJSON       = berthtest.SeedJSON
	uploadChart    = berthtest.UploadChart
	getAs          = berthtest.GetAs
)
