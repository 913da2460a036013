package bkrepo

import (
	"maps"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Promotion stages of a version (bk-repo's ArtifactStageEnum), kept in the
// tag attribute stageAttr.
const (
	stageNone       = ""
	stagePrerelease = "@prerelease"
	stageRelease    = "@release"
	stageAttr       = "stage"
)

var stageOrder = []string{stageNone, stagePrerelease, stageRelease}

// tagRecord is one tag of GET /docker/ext/tag.
type tagRecord struct {
	Tag              string `json:"tag"`
	StageTag         string `json:"stageTag"`
	Size             int64  `json:"size"`
	LastModifiedBy   string `json:"lastModifiedBy"`
	LastModifiedDate string `json:"lastModifiedDate"`
	DownloadCount    int64  `json:"downloadCount"`
	RegistryURL      string `json:"registryUrl"`
}

// listTags: GET /docker/ext/tag/{p}/{r}/{name...}?pageNumber&pageSize&tag.
func (a *api) listTags(w http.ResponseWriter, r *http.Request) error {
	im, err := pathImage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	number, size, page, err := pageParams(q)
	if err != nil {
		return err
	}
	ctx := r.Context()
	repo, err := a.repository(r, im, auth.ActionPull)
	if err != nil {
		return err
	}
	tags, total, err := repo.Tags(ctx, domain.Query{Filter: q.Get("tag"), Sort: domain.Sort{By: "name"}, Page: page})
	if err != nil {
		return err
	}
	host := a.PublicHost(r)
	digests := make([]string, len(tags))
	for i, t := range tags {
		digests[i] = t.Digest
	}
	// The page's artifacts in one index query; one deleted meanwhile shows zeros.
	arts, err := repo.ArtifactsByDigest(ctx, digests, false)
	if err != nil {
		return err
	}
	records := make([]tagRecord, 0, len(tags))
	for _, t := range tags {
		art := arts[t.Digest]
		// size is the manifest's, as bk-repo's tag list has it (the seed's
		// 524 for hello-world); downloadCount the version's own.
		records = append(records, tagRecord{
			Tag:              t.Name,
			StageTag:         t.Attrs[stageAttr],
			Size:             art.ManifestSize,
			LastModifiedBy:   art.PushedBy,
			LastModifiedDate: date(t.PushTime),
			DownloadCount:    t.PullCount,
			RegistryURL:      host + "/" + im.full() + ":" + t.Name,
		})
	}
	return a.ok(w, r, newPage(total, number, size, records))
}

// deleteVersion: DELETE /docker/ext/version/delete/{p}/{r}?packageKey&version
// removes the tag; other tags of the same manifest stay.
func (a *api) deleteVersion(w http.ResponseWriter, r *http.Request) error {
	im, version, err := packageParams(r, true)
	if err != nil {
		return err
	}
	dialect.Subject(r).Tag = version
	repo, err := a.repository(r, im, auth.ActionDelete)
	if err == nil {
		err = repo.DeleteTag(r.Context(), version)
	}
	if err != nil {
		return err
	}
	return a.ok(w, r, true)
}

// setStage: POST|PUT /docker/ext/version/stage/{p}/{r}?packageKey&version&tag
// sets a version's promotion stage (tag=@prerelease|@release, or empty to
// clear); without tag the version moves to the next stage. data is the new
// stage.
func (a *api) setStage(w http.ResponseWriter, r *http.Request) error {
	im, version, err := packageParams(r, true)
	if err != nil {
		return err
	}
	dialect.Subject(r).Tag = version
	want, explicit, err := stageParam(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	repo, err := a.repository(r, im, auth.ActionPush)
	if err != nil {
		return err
	}
	art, err := repo.Artifact(ctx, version)
	if err != nil {
		return err
	}
	attrs := map[string]string{}
	for _, t := range art.Tags {
		if t.Name == version {
			attrs = maps.Clone(t.Attrs)
		}
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	if !explicit {
		if want, err = nextStage(attrs[stageAttr]); err != nil {
			return err
		}
	}
	if want == stageNone {
		delete(attrs, stageAttr)
	} else {
		attrs[stageAttr] = want
	}
	if err := repo.SetTagAttrs(ctx, version, attrs); err != nil {
		return err
	}
	return a.ok(w, r, want)
}

// stageParam reads the wanted stage from tag (bk-repo's name) or stage;
// "release", "prerelease" and "none" are accepted without the '@'.
func stageParam(q map[string][]string) (stage string, explicit bool, err error) {
	raw, has := q["tag"]
	if !has {
		raw, has = q["stage"]
	}
	if !has || len(raw) == 0 {
		return "", false, nil
	}
	s := strings.ToLower(strings.TrimSpace(raw[0]))
	switch strings.TrimPrefix(s, "@") {
	case "", "none":
		return stageNone, true, nil
	case "prerelease":
		return stagePrerelease, true, nil
	case "release":
		return stageRelease, true, nil
	}
	return "", false, invalid("stage %q is not one of @prerelease, @release (or empty)", raw[0])
}

// nextStage is the stage after cur.
func nextStage(cur string) (string, error) {
	for i, s := range stageOrder {
		if s == cur && i+1 < len(stageOrder) {
			return stageOrder[i+1], nil
		}
	}
	return "", invalid("version is already at the last stage %s", stageRelease)
}
