package main

import (
	"log/slog"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/charts"
	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/ext/bkrepo"
	"github.com/berth-registry/berth/ext/ccr"
	"github.com/berth-registry/berth/ext/harborv1"
	"github.com/berth-registry/berth/ext/imagebuild"
	"github.com/berth-registry/berth/ext/swr"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/storage/metadata"
)

// mountAPIs puts every API beside the OCI registry on the core's router.
// It returns the image builder, which starts once berth listens.
func mountAPIs(srv *registry.Server, authSvc *auth.Service, db *metadata.DB, cfg config.Config, log *slog.Logger) (*builder.Service, error) {
	r := srv.Router()
	r.Handle("/service/token", authSvc.TokenHandler())
	auth.MountAPI(r, authSvc, srv.Domain())
	auth.MountGC(r, authSvc, srv.Domain(), srv.GC())
	auth.MountRetention(r, authSvc, srv.Domain(), srv.Retention())
	swr.Mount(r, authSvc, srv.Domain(), srv.PublicHost)
	bkrepo.Mount(r, authSvc, srv.Domain(), srv.PublicHost)
	harborv1.Mount(r, authSvc, srv.Domain())
	chartSvc := charts.New(srv.Domain(), cfg.Charts, log)
	charts.Mount(r, authSvc, chartSvc, srv.PublicURL)
	if err := ccr.Mount(r, authSvc, srv.Domain(), cfg.CCR, chartSvc); err != nil {
		return nil, err
	}
	builds := builder.New(cfg.ImageBuild, db, srv.Domain(), imagebuild.Tokens{Auth: authSvc, TTL: cfg.ImageBuild.Timeout}, log)
	imagebuild.Mount(r, authSvc, srv.Domain(), builds, srv.PublicHost)
	return builds, nil
}
