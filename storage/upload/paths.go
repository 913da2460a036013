package upload

import (
	"path"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// Paths in distribution's storage layout (registry/storage/paths.go), so
// uploads written here can be resumed, purged and committed by
// distribution's own code and the other way round.
const v2Root = "/docker/registry/v2"

// uploadDir holds one upload: data, startedat and hashstates/.
func uploadDir(repo, id string) string {
	return path.Join(v2Root, "repositories", repo, "_uploads", id)
}

func dataPath(repo, id string) string { return path.Join(uploadDir(repo, id), "data") }

func startedAtPath(repo, id string) string { return path.Join(uploadDir(repo, id), "startedat") }

// hashStatePath is where the state of a resumable hash of the first offset
// bytes is kept (distribution's uploadHashStatePathSpec).
func hashStatePath(repo, id string, alg digest.Algorithm, offset int64) string {
	return path.Join(uploadDir(repo, id), "hashstates", string(alg), strconv.FormatInt(offset, 10))
}

// blobDataPath is where a blob's bytes live (blobDataPathSpec).
func blobDataPath(d digest.Digest) string {
	hex := d.Encoded()
	return path.Join(v2Root, "blobs", d.Algorithm().String(), hex[:2], hex, "data")
}

// layerLinkPath links a blob into a repository (layerLinkPathSpec).
func layerLinkPath(repo string, d digest.Digest) string {
	return path.Join(v2Root, "repositories", repo, "_layers", d.Algorithm().String(), d.Encoded(), "link")
}
