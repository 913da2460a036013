package main

import (
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/bkrepo"
	"github.com/berth-registry/berth/ext/harborv1"
	"github.com/berth-registry/berth/ext/swr"
	"github.com/berth-registry/berth/registry"
)

// mountAPIs puts every API beside the OCI registry on the core's router.
func mountAPIs(srv *registry.Server, authSvc *auth.Service) {
	r := srv.Router()
	r.Handle("/service/token", authSvc.TokenHandler())
	auth.MountAPI(r, authSvc, srv.Domain())
	swr.Mount(r, authSvc, srv.Domain(), srv.PublicHost)
	bkrepo.Mount(r, authSvc, srv.Domain(), srv.PublicHost)
	harborv1.Mount(r, authSvc, srv.Domain())
}
