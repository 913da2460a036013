package main

import (
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/charts"
	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/ext/bkrepo"
	"github.com/berth-registry/berth/ext/ccr"
	"github.com/berth-registry/berth/ext/swr"
	"github.com/berth-registry/berth/registry"
)

// mountAPIs puts every API beside the OCI registry on the core's router.
func mountAPIs(srv *registry.Server, authSvc *auth.Service, cfg config.Config) error {
	r := srv.Router()
	r.Handle("/service/token", authSvc.TokenHandler())
	auth.MountAPI(r, authSvc, srv.Domain())
	swr.Mount(r, authSvc, srv.Domain(), srv.PublicHost)
	bkrepo.Mount(r, authSvc, srv.Domain(), srv.PublicHost)
	chartSvc := charts.New(srv.Domain(), srv.ChartLimits(), nil)
	charts.Mount(r, authSvc, chartSvc, srv.PublicURL)
	return ccr.Mount(r, authSvc, srv.Domain(), cfg.CCR, chartSvc)
}
