package main

import (
	"log/slog"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/charts"
	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/ext/berthv1"
	"github.com/berth-registry/berth/ext/bkrepo"
	"github.com/berth-registry/berth/ext/ccr"
	"github.com/berth-registry/berth/ext/dialect"
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
	core := dialect.Core{Auth: authSvc, Dom: srv.Domain(), Log: log, PublicURL: srv.PublicURL}
	berthv1.Mount(r, core, berthv1.Services{GC: srv.GC(), Retention: srv.Retention()})
	swr.Mount(r, core)
	bkrepo.Mount(r, core)
	harborv1.Mount(r, core)
	chartSvc := charts.New(srv.Domain(), cfg.Charts, log)
	charts.Mount(r, core, chartSvc)
	if err := ccr.Mount(r, core, cfg.CCR, chartSvc); err != nil {
		return nil, err
	}
	builds := builder.New(cfg.ImageBuild, db, srv.Domain(), imagebuild.Tokens{Auth: authSvc, TTL: cfg.ImageBuild.Timeout}, log)
	imagebuild.Mount(r, core, builds)
	return builds, nil
}
