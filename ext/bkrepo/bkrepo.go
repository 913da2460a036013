// Package bkrepo serves the bk-repo (BlueKing artifact repository) "docker
// ext" management API (seed 000) over berth's domain service. It holds only
// routes, request parsing, the {code, message, data, traceId} envelope and
// one error table; every read and change goes through the domain, after
// the dialect kit's one authorization step.
//
// A bk-repo image projectId/repoName/name is the OCI repository
// "projectId/repoName/name": projectId is the berth project.
package bkrepo

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// Prefix is where the dialect lives.
const Prefix = "/docker/ext/"

// api is the dialect.
type api struct {
	*dialect.API[int]
}

// Mount adds the dialect to r, and bk-repo's Platform credentials to
// every route.
func Mount(r *mux.Router, core dialect.Core) {
	a := &api{}
	a.API = &dialect.API[int]{Core: core, Name: "bkrepo", Prefix: Prefix, OwnPrefix: true, Routes: a.routes(),
		Errors: errorTable, Envelope: a.envelope, Segment: decodeSegment, NoRoute: badSegment}
	core.Auth.AddScheme(PlatformScheme)
	a.Mount(r)
}

// routes is the dialect's one route table, after /docker/ext/.
func (a *api) routes() []dialect.Route {
	const (
		get, head, put, post, del = http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete
		repo                      = "{project}/{repo}"
		image                     = repo + "/{name...}"
	)
	stage := dialect.Op{Serve: a.setStage, Action: observe.TagStage}
	return []dialect.Route{
		{Path: "addr", Methods: map[string]dialect.Op{get: {Serve: a.addr}}},
		{Path: "manifest/" + image + "/{ref}", Methods: map[string]dialect.Op{get: {Serve: a.manifest}}},
		{Path: "layer/" + image + "/{ref}", Methods: map[string]dialect.Op{get: {Serve: a.layer}, head: {Serve: a.layer}}},
		{Path: "repo/" + repo, Methods: map[string]dialect.Op{get: {Serve: a.listImages}}},
		{Path: "tag/" + image, Methods: map[string]dialect.Op{get: {Serve: a.listTags}}},
		{Path: "package/delete/" + repo, Methods: map[string]dialect.Op{del: {Serve: a.deletePackage, Action: observe.RepositoryDelete}}},
		{Path: "version/delete/" + repo, Methods: map[string]dialect.Op{del: {Serve: a.deleteVersion, Action: observe.TagDelete}}},
		{Path: "version/detail/" + repo, Methods: map[string]dialect.Op{get: {Serve: a.versionDetail}}},
		{Path: "version/stage/" + repo, Methods: map[string]dialect.Op{post: stage, put: stage}},
	}
}

// PlatformScheme is bk-repo's "Authorization: Platform
// base64(accessKey:secretKey)", an application credential, with an
// optional X-BKREPO-UID naming the user it acts for. Every route accepts
// it once the dialect is mounted.
var PlatformScheme = auth.Scheme{Authorization: "Platform", Read: func(r *http.Request, v string) (auth.Credentials, error) {
	raw, err := base64.StdEncoding.DecodeString(v)
	ak, sk, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || !strings.HasPrefix(ak, auth.AccessKeyPrefix) {
		return auth.Credentials{}, auth.ErrUnauthenticated
	}
	return auth.Credentials{Username: ak, Password: sk, ActingUser: r.Header.Get("X-BKREPO-UID")}, nil
}}

// badSegment finds why no route serves a path under /docker/ext/: a
// segment that is not valid (400) before a shape that is not a route
// (404).
func badSegment(r *http.Request) error {
	for _, s := range strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), Prefix), "/")[1:] {
		if _, err := decodeSegment(s); err != nil {
			return err
		}
	}
	return nil
}

// authorize checks action on the image's project, whose name the audit
// event of a change carries.
func (a *api) authorize(r *http.Request, im image, action string) error {
	ev := dialect.Subject(r)
	ev.Project = im.project
	if im.name != "" {
		ev.Repository = im.full()
	}
	_, err := a.Authorize(r, im.project, action)
	return err
}

// repository authorizes action on the image's project and resolves the
// image's repository once.
func (a *api) repository(r *http.Request, im image, action string) (*domain.Repo, error) {
	if err := a.authorize(r, im, action); err != nil {
		return nil, err
	}
	return a.Dom.Repository(r.Context(), im.full())
}

// addr: GET /docker/ext/addr — the public registry host.
func (a *api) addr(w http.ResponseWriter, r *http.Request) error {
	return a.ok(w, r, a.PublicHost(r))
}
