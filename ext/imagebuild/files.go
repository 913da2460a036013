package imagebuild

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/builder"
)

// fileJSON is an uploaded build-context file.
type fileJSON struct {
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	Digest     string `json:"digest"`
	CreateTime string `json:"createTime"`
}

func toFileJSON(f builder.File) fileJSON {
	return fileJSON{Name: f.Name, Size: f.Size, Digest: f.Digest, CreateTime: formatTime(f.CreatedAt)}
}

// /api/project/file is a berth extension: GET lists a project's
// build-context files (listFiles), POST (multipart/form-data:
// projectName, then one or more "file" parts, each stored under its
// filename or the preceding "name" field) uploads them (upload), DELETE
// (projectName, name) removes one (deleteFile).

func (h *handler) listFiles(w http.ResponseWriter, r *http.Request, p params, _ auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionPull)
	if err != nil {
		return err
	}
	files, err := h.b.Files(r.Context(), proj)
	if err != nil {
		return err
	}
	out := make([]fileJSON, 0, len(files))
	for _, f := range files {
		out = append(out, toFileJSON(f))
	}
	h.ok(w, out)
	return nil
}

func (h *handler) deleteFile(w http.ResponseWriter, r *http.Request, p params, _ auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionPush)
	if err != nil {
		return err
	}
	if err := h.b.DeleteFile(r.Context(), proj, p.get("name")); err != nil {
		return err
	}
	h.ok(w, "")
	return nil
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		return invalid("upload files as multipart/form-data")
	}
	cfg := h.b.Config()
	r.Body = http.MaxBytesReader(w, r.Body, cfg.MaxContextBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return invalid("multipart body: %v", err)
	}
	projectName, name := p.get("projectName", "project"), p.get("name")
	var proj *builder.Project
	var out []fileJSON
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return invalid("multipart body: %v", err)
		}
		field := part.FormName()
		if part.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				return invalid("multipart body: %v", err)
			}
			switch field {
			case "projectName", "project":
				projectName = string(v)
			case "name", "path":
				name = string(v)
			}
			continue
		}
		if proj == nil {
			got, err := h.project(r, projectName, auth.ActionPush)
			if err != nil {
				return err
			}
			proj = &got
		}
		if name == "" {
			name = part.FileName()
		}
		f, err := h.b.PutFile(r.Context(), *proj, name, part)
		if err != nil {
			return err
		}
		out = append(out, toFileJSON(f))
		name = ""
	}
	if len(out) == 0 {
		return invalid("no file part in the upload")
	}
	h.ok(w, out)
	return nil
}
