package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// What eviction of a proxy project (registry/proxy, evict.go) reads and
// records. The removal itself is retention's: RemoveTags, then
// RemoveUntagged.

// EvictionCandidate is an artifact of its own in a proxy project (listed,
// not a referrer of a subject its repository holds: a signature goes with
// its image) as eviction weighs it.
type EvictionCandidate struct {
	ID         int64
	Repository string
	Digest     string
	Size       int64 // manifest and unique blobs, an index's children included
	PushTime   time.Time
	// LastPull is the latest pull of the artifact, its tags and (an index)
	// its children; zero: never pulled.
	LastPull time.Time
}

// EvictionCandidates lists up to limit artifacts of the project that
// eviction may remove, least recently pushed first.
func (db *DB) EvictionCandidates(ctx context.Context, projectID int64, limit int) ([]EvictionCandidate, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT a.id, r.name, a.digest, a.size, a.push_time, a.pull_time,
		COALESCE((SELECT max(t.pull_time) FROM tags t WHERE t.artifact_id = a.id), 0),
		COALESCE((SELECT max(c.pull_time) FROM artifact_references ref JOIN artifacts c ON c.id = ref.child_id WHERE ref.parent_id = a.id), 0)
		FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE r.project_id = ? AND a.listed
		AND NOT (a.subject_digest <> '' AND EXISTS (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))
		ORDER BY a.push_time, a.id LIMIT ?`), projectID, limit)
	if err != nil {
		return nil, fmt.Errorf("metadata: eviction candidates: %w", err)
	}
	defer rows.Close()
	var out []EvictionCandidate
	for rows.Next() {
		var c EvictionCandidate
		var push, pull, tagPull, childPull int64
		if err := rows.Scan(&c.ID, &c.Repository, &c.Digest, &c.Size, &push, &pull, &tagPull, &childPull); err != nil {
			return nil, fmt.Errorf("metadata: eviction candidates: %w", err)
		}
		c.PushTime, c.LastPull = fromMillis(push), fromMillis(max(pull, tagPull, childPull))
		out = append(out, c)
	}
	return out, rows.Err()
}

// ArtifactTags returns the tags of an artifact as RemoveTags takes them,
// and the digests of its children (an index's), for eviction to remove it.
func (db *DB) ArtifactTags(ctx context.Context, artifactID int64) (tags []RetentionTag, children []string, err error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT t.id, t.name, a.digest, t.push_time FROM tags t JOIN artifacts a ON a.id = t.artifact_id
		WHERE t.artifact_id = ? ORDER BY t.id`), artifactID)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: artifact tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t RetentionTag
		var push int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Digest, &push); err != nil {
			return nil, nil, fmt.Errorf("metadata: artifact tags: %w", err)
		}
		t.PushTime = fromMillis(push)
		tags = append(tags, t)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	children, err = column[string](ctx, db.sql, db.q(`SELECT child_digest FROM artifact_references WHERE parent_id = ? ORDER BY child_digest`), artifactID)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: artifact children: %w", err)
	}
	return tags, children, nil
}

// ProjectUsage is a project's storage_used: its blobs, each counted once.
func (db *DB) ProjectUsage(ctx context.Context, projectID int64) (int64, error) {
	var used int64
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT storage_used FROM projects WHERE id = ?`), projectID).Scan(&used)
	if err != nil {
		return 0, fmt.Errorf("metadata: project usage: %w", err)
	}
	return used, nil
}

// ProxyEviction is what one eviction run of a proxy project did.
type ProxyEviction struct {
	Project   string    `json:"project"`
	Cause     string    `json:"cause"` // fill, schedule, update, api
	Actor     string    `json:"actor,omitempty"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	CapBytes  int64     `json:"capBytes"`
	LowWater  int64     `json:"lowWaterBytes"` // what a run brings usage down to
	UsedFrom  int64     `json:"usedBefore"`
	UsedTo    int64     `json:"usedAfter"`
	Artifacts int64     `json:"artifactsEvicted"`
	Manifests int64     `json:"manifestsRemoved"` // referrers and children included
	Tags      int64     `json:"tagsRemoved"`
	Protected int64     `json:"protected"` // candidates kept for a recent pull or fetch
	Status    string    `json:"status"`    // done, failed
	Error     string    `json:"error,omitempty"`
}

// BytesEvicted is by how much the run brought the project's usage down.
func (e ProxyEviction) BytesEvicted() int64 { return max(e.UsedFrom-e.UsedTo, 0) }

// RecordProxyEviction records a run that removed something or failed as
// an event (proxy.evict) in the outbox: the audit log and webhooks.
func (db *DB) RecordProxyEviction(ctx context.Context, e ProxyEviction) error {
	return db.emitted(ctx, func(tx *sql.Tx) error {
		ev := Event{Type: EventProxyEvict, Project: e.Project, Target: e.Cause, At: e.Finished, Data: toJSON(map[string]any{
			"cause": e.Cause, "status": e.Status, "capBytes": e.CapBytes, "usedBefore": e.UsedFrom, "usedAfter": e.UsedTo,
			"bytesEvicted": e.BytesEvicted(), "artifactsEvicted": e.Artifacts, "manifestsRemoved": e.Manifests,
			"tagsRemoved": e.Tags, "protected": e.Protected, "error": e.Error,
			"durationMs": e.Finished.Sub(e.Started).Milliseconds()}), Size: e.BytesEvicted()}
		if e.Actor != "" {
			ev.ActorKind, ev.ActorName = "user", e.Actor
		}
		if e.Status == "failed" {
			ev.Result = "failed"
		}
		return db.emit(ctx, tx, ev)
	})
}
