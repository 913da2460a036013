package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// repo resolves the route's {repo} once, authorized for action in its
// project: a repository of a project the caller may not see is a 404.
func (c *console) repo(r *http.Request, action string) (*domain.Repo, domain.Project, error) {
	name := dialect.Var(r, "repo")
	project, _, _ := strings.Cut(name, "/")
	dialect.Subject(r).Project, dialect.Subject(r).Repository = project, name
	pr, err := c.Authorize(r, project, action)
	if err != nil {
		return nil, pr, err
	}
	rp, err := c.Dom.Repository(r.Context(), name)
	return rp, pr, err
}

func (c *console) repoCrumbs(pr domain.Project, repo string) []crumb {
	return []crumb{{"Projects", Prefix + "/"}, {pr.Name, Prefix + "/projects/" + url.PathEscape(pr.Name)}, {strings.TrimPrefix(repo, pr.Name+"/"), repoURL(repo)}}
}

// GET /repositories/{repo}[?q=&after=|before=]: the repository's tags in
// name order, a page at a time by keyset, each with its artifact (digest,
// size, platform), from the index: two queries a page whatever the
// repository holds.
func (c *console) tags(w http.ResponseWriter, r *http.Request) error {
	rp, pr, err := c.repo(r, auth.ActionPull)
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	cur := domain.Cursor{Filter: qs.Get("q"), After: qs.Get("after"), Before: qs.Get("before"), Limit: pageSize + 1}
	tags, err := rp.TagsByName(r.Context(), cur)
	if err != nil {
		return err
	}
	// One row more than shown says whether a page lies beyond, on the
	// side the cursor walks.
	more := len(tags) > pageSize
	if more && cur.Before != "" {
		tags = tags[1:]
	} else if more {
		tags = tags[:pageSize]
	}
	prev, next := "", ""
	if len(tags) > 0 {
		if cur.Before != "" && more || cur.Before == "" && cur.After != "" {
			prev = tags[0].Name
		}
		if cur.Before == "" && more || cur.Before != "" {
			next = tags[len(tags)-1].Name
		}
	}
	digests := make([]string, 0, len(tags))
	for _, t := range tags {
		digests = append(digests, t.Digest)
	}
	arts, err := rp.ArtifactsByDigest(r.Context(), digests, false)
	if err != nil {
		return err
	}
	type row struct {
		domain.Tag
		Artifact domain.Artifact
	}
	rows := make([]row, 0, len(tags))
	for _, t := range tags {
		rows = append(rows, row{Tag: t, Artifact: arts[t.Digest]})
	}
	canDelete, err := c.Auth.Can(r.Context(), dialect.Caller(r), pr, auth.ActionDelete)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "tags", pageData{Title: rp.Name, Crumbs: c.repoCrumbs(pr, rp.Name)[:2],
		Data: map[string]any{"Repo": rp.Repository, "Rows": rows, "Query": cur.Filter, "Prev": prev, "Next": next, "CanDelete": canDelete}})
	return nil
}

// GET /repositories/{repo}/-/artifacts/{ref}: an artifact by digest or
// tag: its tags, platforms (an index's children), blobs, referrers
// (signatures, SBOMs, attestations, and theirs), manifest and config JSON.
func (c *console) artifact(w http.ResponseWriter, r *http.Request) error {
	rp, pr, err := c.repo(r, auth.ActionPull)
	if err != nil {
		return err
	}
	ref := dialect.Var(r, "ref")
	a, err := rp.Artifact(r.Context(), ref)
	if err != nil {
		return err
	}
	// The manifest's bytes as the index keeps them (storage's, for an
	// artifact indexed before it kept them).
	withBytes, err := rp.ArtifactsByDigest(r.Context(), []string{a.Digest}, true)
	if err != nil {
		return err
	}
	config := ""
	if a.ConfigDigest != "" && strings.Contains(a.ConfigMediaType, "json") {
		if b, err := rp.Config(r.Context(), a.Digest); err == nil {
			config = indent(b)
		} else if !errors.Is(err, domain.ErrNotFound) && !errors.Is(err, domain.ErrInvalid) {
			return err
		}
	}
	refs, err := c.referrers(r, rp, a.Digest, 0)
	if err != nil {
		return err
	}
	canDelete, err := c.Auth.Can(r.Context(), dialect.Caller(r), pr, auth.ActionDelete)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "artifact", pageData{Title: rp.Name + "@" + shortDigest(a.Digest), Crumbs: c.repoCrumbs(pr, rp.Name),
		Data: map[string]any{"Repo": rp.Repository, "A": a, "Manifest": indent(withBytes[a.Digest].Manifest), "MediaType": a.MediaType, "Config": config,
			"Referrers": refs, "CanDelete": canDelete}})
	return nil
}

// referrer is one node of an artifact's referrers tree.
type referrer struct {
	domain.Artifact
	Children []referrer
}

// maxReferrers bounds the referrers shown at each level, maxDepth the
// depth of the tree (a signature of an SBOM of an image is depth 2).
const maxReferrers, maxDepth = 100, 3

func (c *console) referrers(r *http.Request, rp *domain.Repo, digest string, depth int) ([]referrer, error) {
	if depth >= maxDepth {
		return nil, nil
	}
	as, err := rp.Referrers(r.Context(), digest, maxReferrers)
	if err != nil {
		return nil, err
	}
	out := make([]referrer, 0, len(as))
	for _, a := range as {
		kids, err := c.referrers(r, rp, a.Digest, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, referrer{Artifact: a, Children: kids})
	}
	return out, nil
}

// indent pretty-prints JSON (as it is when it is not JSON).
func indent(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

// GET /repositories/{repo}/-/tags/{tag}/delete: the confirmation.
func (c *console) confirmDeleteTag(w http.ResponseWriter, r *http.Request) error {
	rp, pr, err := c.repo(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	tag := dialect.Var(r, "tag")
	if _, err := rp.Artifact(r.Context(), tag); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "confirm", pageData{Title: "Delete tag " + tag, Crumbs: c.repoCrumbs(pr, rp.Name),
		Data: confirmation{What: "tag " + rp.Name + ":" + tag, Action: repoURL(rp.Name) + "/-/tags/" + url.PathEscape(tag) + "/delete",
			Back: repoURL(rp.Name), Name: tag, Detail: "The artifact stays under its digest and its other tags."}})
	return nil
}

// POST /repositories/{repo}/-/tags/{tag}/delete: confirm (the tag typed
// again).
func (c *console) deleteTag(w http.ResponseWriter, r *http.Request) error {
	tag := dialect.Var(r, "tag")
	dialect.Subject(r).Tag = tag
	rp, _, err := c.repo(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != tag {
		return dialect.Invalidf("type the tag to confirm its deletion")
	}
	if err := rp.DeleteTag(r.Context(), tag); err != nil {
		return err
	}
	return redirect(w, r, strings.TrimPrefix(repoURL(rp.Name), Prefix))
}

// GET /repositories/{repo}/-/artifacts/{ref}/delete: the confirmation.
func (c *console) confirmDeleteArtifact(w http.ResponseWriter, r *http.Request) error {
	rp, pr, err := c.repo(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	a, err := rp.Artifact(r.Context(), dialect.Var(r, "ref"))
	if err != nil {
		return err
	}
	detail := "The manifest and every tag naming it are deleted; its blobs are reclaimed by garbage collection."
	if len(a.Tags) > 0 {
		names := make([]string, 0, len(a.Tags))
		for _, t := range a.Tags {
			names = append(names, t.Name)
		}
		detail += " Tags that go with it: " + strings.Join(names, ", ") + "."
	}
	c.render(w, r, http.StatusOK, "confirm", pageData{Title: "Delete artifact " + shortDigest(a.Digest), Crumbs: c.repoCrumbs(pr, rp.Name),
		Data: confirmation{What: "artifact " + rp.Name + "@" + a.Digest, Action: artURL(rp.Name, a.Digest) + "/delete",
			Back: artURL(rp.Name, a.Digest), Name: shortDigest(a.Digest), Detail: detail}})
	return nil
}

// POST /repositories/{repo}/-/artifacts/{ref}/delete: confirm (the short
// digest typed again).
func (c *console) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	rp, _, err := c.repo(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	a, err := rp.Artifact(r.Context(), dialect.Var(r, "ref"))
	if err != nil {
		return err
	}
	dialect.Subject(r).Digest = a.Digest
	if r.PostForm.Get("confirm") != shortDigest(a.Digest) {
		return dialect.Invalidf("type the short digest to confirm the deletion")
	}
	if err := rp.DeleteArtifact(r.Context(), a.Digest); err != nil {
		return err
	}
	return redirect(w, r, strings.TrimPrefix(repoURL(rp.Name), Prefix))
}
