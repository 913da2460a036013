package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	mgmtProject = "mgmt"
	mgmtPath    = "docker/app" // bk-repo repoName "docker", image name "app"
	mgmtPage    = 100
)

// mgmtEndpoint is one management list, paged by mgmtPage.
type mgmtEndpoint struct {
	name string
	// url returns the address of page p (from 0); header is extra headers.
	url    func(base string, p int) string
	header func(token string) map[string]string
	// total extracts the total count the answer reports.
	total func(h http.Header, body []byte) (int, error)
}

func mgmtEndpoints(ccrRepo string) []mgmtEndpoint {
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": tok} }
	return []mgmtEndpoint{
		{
			name: "SWR tags `GET /v2/manage/namespaces/{ns}/repos/{repo}/tags?offset&limit`",
			url: func(base string, p int) string {
				return fmt.Sprintf("%s/v2/manage/namespaces/%s/repos/%s/tags?offset=%d&limit=%d",
					base, mgmtProject, strings.ReplaceAll(mgmtPath, "/", "$"), p*mgmtPage, mgmtPage)
			},
			header: func(tok string) map[string]string {
				return map[string]string{"X-Auth-Token": strings.TrimPrefix(tok, "Bearer ")}
			},
			total: func(h http.Header, _ []byte) (int, error) {
				cr := h.Get("Content-Range")
				_, tot, ok := strings.Cut(cr, "/")
				if !ok {
					return 0, fmt.Errorf("Content-Range %q", cr)
				}
				return strconv.Atoi(tot)
			},
		},
		{
			name: "bk-repo tags `GET /docker/ext/tag/{projectId}/{repoName}/{name}?pageNumber&pageSize`",
			url: func(base string, p int) string {
				return fmt.Sprintf("%s/docker/ext/tag/%s/%s?pageNumber=%d&pageSize=%d", base, mgmtProject, mgmtPath, p+1, mgmtPage)
			},
			header: bearer,
			total: func(_ http.Header, body []byte) (int, error) {
				var v struct {
					Data struct {
						TotalRecords int `json:"totalRecords"`
					} `json:"data"`
				}
				err := json.Unmarshal(body, &v)
				return v.Data.TotalRecords, err
			},
		},
		{
			name: "CCR artifacts `GET /api/ccr/v1.0/instances/ccr-manager/projects/{p}/repositories/{r}/artifacts?pageNo&pageSize`",
			url: func(base string, p int) string {
				return fmt.Sprintf("%s/api/ccr/v1.0/instances/ccr-manager/projects/%s/repositories/%s/artifacts?pageNo=%d&pageSize=%d",
					base, mgmtProject, ccrRepo, p+1, mgmtPage)
			},
			header: bearer,
			total: func(_ http.Header, body []byte) (int, error) {
				var v struct {
					Total int `json:"total"`
				}
				err := json.Unmarshal(body, &v)
				return v.Total, err
			},
		},
	}
}

// runMgmt (berth only; the stock registry has no management API): pages of
// mgmtPage from the SWR, bk-repo and CCR lists of a repository holding
// o.mgmtTags tags, each a distinct manifest (so also that many artifacts),
// seeded by concurrent manifest PUTs. Each round GETs o.pages pages spread
// over the whole range, one client, and records p50 and p99.
func runMgmt(ctx context.Context, b *bench) error {
	br := b.env.berth
	hc := newHTTPClient(b.o.seedConns + 2)
	repo := mgmtProject + "/" + mgmtPath
	body := fmt.Sprintf(`{"name":%q,"public":false}`, mgmtProject)
	code, _, resp, err := do(ctx, hc, call{method: http.MethodPost, url: br.base + "/api/berth/v1/projects", authz: br.seedAuth,
		contentType: "application/json", body: strings.NewReader(body), size: int64(len(body))})
	if err := expect("berth: create project "+mgmtProject, code, resp, err, http.StatusCreated, http.StatusOK, http.StatusConflict); err != nil {
		return err
	}
	start := time.Now()
	img := newImage("")
	for _, blob := range [][]byte{img.layer, img.config} {
		if err := br.pushSmallBlob(ctx, hc, br.seedAuth, repo, blob); err != nil {
			return err
		}
	}
	err = parallel(ctx, b.o.mgmtTags, b.o.seedConns, func(ctx context.Context, i int) error {
		if i > 0 && i%10000 == 0 {
			b.log.Info("seeding management tags", "done", i, "of", b.o.mgmtTags, "elapsed", time.Since(start).Round(time.Second))
		}
		return br.putManifest(ctx, hc, br.seedAuth, repo, fmt.Sprintf("v%06d", i), newImage(strconv.Itoa(i)).manifest)
	})
	if err != nil {
		return err
	}
	b.seeded("berth", "tags, each a distinct manifest (manifest PUTs)", b.o.mgmtTags, time.Since(start))
	tok, err := berthToken(ctx, hc, br, br.adminUser, br.adminPassword, "repository:"+repo+":pull")
	if err != nil {
		return err
	}
	// The seed allows multi-level CCR repository names ("sub1/sub2/repo")
	// without saying how they are escaped: use the first spelling that
	// answers 200.
	ccrEncodings := []string{"docker%2Fapp", "docker%252Fapp", "docker/app"}
	ccrRepo := ccrEncodings[0]
	for _, enc := range ccrEncodings {
		u := mgmtEndpoints(enc)[2].url(br.base, 0)
		if code, _, _, err := do(ctx, hc, call{method: http.MethodGet, url: u, header: map[string]string{"Authorization": tok}}); err == nil && code == http.StatusOK {
			ccrRepo = enc
			break
		}
	}
	pages := (b.o.mgmtTags + mgmtPage - 1) / mgmtPage
	section := fmt.Sprintf("Management lists at %s tags (berth only; pages of %d, one client; ms)", fmtCount(b.o.mgmtTags), mgmtPage)
	for _, ep := range mgmtEndpoints(ccrRepo) {
		code, h, body, err := do(ctx, hc, call{method: http.MethodGet, url: ep.url(br.base, 0), header: ep.header(tok)})
		if err != nil {
			return err
		}
		if code == http.StatusNotFound {
			b.rep.na(section, ep.name+" p99", "ms", target{berthBelow, 20}, "n/a (endpoint missing)")
			b.log.Warn("management endpoint missing", "endpoint", ep.name, "status", code)
			continue
		}
		if err := expect("berth: "+ep.name, code, body, nil, http.StatusOK); err != nil {
			return err
		}
		if tot, err := ep.total(h, body); err != nil || tot != b.o.mgmtTags {
			return fmt.Errorf("berth: %s reports %d in total (%v), want %d", ep.name, tot, err, b.o.mgmtTags)
		}
		for round := range b.o.rounds {
			var lat []float64
			for i := range b.o.pages {
				u := ep.url(br.base, i*7919%pages)
				t := time.Now()
				code, _, body, err := do(ctx, hc, call{method: http.MethodGet, url: u, header: ep.header(tok)})
				if err := expect("berth: GET "+u, code, body, err, http.StatusOK); err != nil {
					return err
				}
				lat = append(lat, ms(time.Since(t)))
			}
			b.rep.add(section, ep.name+" p50", "ms", target{}, "berth", percentile(lat, 50))
			b.rep.add(section, ep.name+" p99", "ms", target{berthBelow, 20}, "berth", percentile(lat, 99))
			b.log.Info("mgmt", "round", round+1, "endpoint", ep.name, "p50_ms", fmtNum(percentile(lat, 50)), "p99_ms", fmtNum(percentile(lat, 99)))
		}
	}
	return nil
}
