package registry

import (
	"net/http"
	"strings"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage"
)

// v2Write names the change a /v2 request asks for, or "" for a read. An
// upload's steps (its start, its chunks, its cancel) are blob.push too:
// recorded when refused or failed, since the one record of an upload
// that succeeds is its commit's (auditV2).
func v2Write(route string, r *http.Request) string {
	method := r.Method
	switch {
	case route == v2.RouteNameManifest && method == http.MethodPut:
		return observe.ArtifactPush
	case route == v2.RouteNameManifest && method == http.MethodDelete:
		return observe.ArtifactDelete
	case route == v2.RouteNameBlobUploadChunk && method != http.MethodGet && method != http.MethodHead:
		return observe.BlobPush
	case route == v2.RouteNameBlobUpload && method == http.MethodPost:
		if r.URL.Query().Get("mount") != "" {
			return observe.BlobMount
		}
		return observe.BlobPush
	case route == v2.RouteNameBlob && method == http.MethodDelete:
		return observe.BlobDelete
	}
	return ""
}

// auditV2 records the one audit record of a /v2 write, once it was
// answered, when no transaction of the change wrote it: a refused or
// failed attempt (an immutable tag, a manifest that does not parse, a
// caller without the right, storage down), or a change outside the
// database (a blob delete). A 401 to a caller who sent no credentials is
// the challenge every client starts with, not an attempt. The steps of an
// upload that succeed (202 for a start, a chunk or a mount that became an
// upload, 204 for a cancel) change nothing yet: no record.
func auditV2(r *http.Request, act, name, ref string, status int) {
	ctx := r.Context()
	if observe.Recorded(ctx) {
		return
	}
	actor := observe.ActorOf(ctx)
	if (status == http.StatusUnauthorized && actor.Kind == "anonymous") ||
		((act == observe.BlobPush || act == observe.BlobMount) && (status == http.StatusAccepted || status == http.StatusNoContent)) {
		return
	}
	q := r.URL.Query()
	e := observe.Event{Action: act, Repository: name}
	e.Project, _, _ = strings.Cut(name, "/")
	switch act {
	case observe.BlobPush:
		e.Digest = q.Get("digest")
	case observe.BlobMount:
		e.Digest, e.Target = q.Get("mount"), q.Get("from")
	case observe.ArtifactPush, observe.ArtifactDelete, observe.BlobDelete:
		if _, err := digest.Parse(ref); err == nil {
			e.Digest = ref
		} else {
			e.Tag = ref
			if act == observe.ArtifactDelete {
				e.Action = observe.TagDelete
			}
		}
	}
	switch {
	case status >= 500 || storage.FaultOf(ctx)() != storage.NoFault:
		e.Result = observe.ResultFailed
	case status >= 400:
		e.Result = observe.ResultRefused
	}
	observe.Emit(ctx, e)
}
