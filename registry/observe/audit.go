package observe

import (
	"context"
	"log/slog"
)

// Actions an Event records: one name per kind of change, whichever API
// made it, so a reader (and, later, events and webhooks) never needs to
// know the dialect's own words.
const (
	ProjectCreate      = "project.create"
	ProjectUpdate      = "project.update"
	ProjectDelete      = "project.delete"
	MemberSet          = "member.set"
	MemberRemove       = "member.remove"
	UserCreate         = "user.create"
	CredentialReset    = "user.credential.reset"
	RobotCreate        = "robot.create"
	RepositoryCreate   = "repository.create"
	RepositoryUpdate   = "repository.update"
	RepositoryDelete   = "repository.delete"
	ArtifactDelete     = "artifact.delete"
	TagDelete          = "tag.delete"
	TagStage           = "tag.stage"
	ChartUpload        = "chart.upload"
	ChartDelete        = "chart.delete"
	ChartVersionDelete = "chart.version.delete"
	BuildProjectCreate = "build.project.create"
	BuildProjectSave   = "build.project.save"
	BuildProjectClone  = "build.project.clone"
	BuildProjectDelete = "build.project.delete"
	BuildStart         = "build.start"
	BuildFileUpload    = "build.file.upload"
	BuildFileDelete    = "build.file.delete"
	GCRun              = "gc.run"
	RetentionPolicySet = "retention.policy.set"
	RetentionPolicyDel = "retention.policy.delete"
	RetentionRun       = "retention.run"
	ImmutableRuleAdd   = "immutable.rule.create"
	ImmutableRuleDel   = "immutable.rule.delete"
	ProxySet           = "proxy.set"
	ProxyDelete        = "proxy.delete"
	BlobPush           = "blob.push"   // an upload committed (audit log only)
	BlobMount          = "blob.mount"  // a cross-repository mount (audit log only)
	BlobDelete         = "blob.delete" // (audit log only)
	ProxyEvict         = "proxy.evict"
)

// Results of an Event.
const (
	ResultOK      = "ok"
	ResultRefused = "refused" // the caller's error or lack of rights: a 4xx
	ResultFailed  = "failed"  // berth's or a backend's failure: a 5xx
)

// Actor is who made a change.
type Actor struct {
	Kind string // "user", "app" (an application credential) or "anonymous"
	ID   int64  // the user's or the application credential's id (0: anonymous)
	// Name is who acted, as authenticated: the username, or the access
	// key of an application credential.
	Name string
	// Asserted is the user an application credential says it acts for
	// (bk-repo's X-BKREPO-UID): the caller's word, never verified, so
	// never the Name.
	Asserted string
}

// Event is one management action: what was done, by whom, to what, and
// how it ended. Every API writes the same shape (Audit), refused and
// failed attempts included. It is berth's one event model: a change
// records it in the change's own transaction (storage/metadata's outbox),
// what no transaction records goes through Emit, and registry/events
// turns the stored rows into the audit log, CloudEvents and webhooks.
type Event struct {
	Action     string
	Actor      Actor
	Project    string
	Repository string // the full OCI name, <project>/<path>
	Tag        string
	Digest     string // or another reference the caller gave (a tag)
	// Target is what else the action names: the user of a credential
	// reset or a membership, a robot, a chart, a build project.
	Target    string
	Result    string
	RequestID string
	// ClientAddr and UserAgent are the caller's (observe.SetClient).
	ClientAddr string
	UserAgent  string
	// Size and MediaType describe an artifact or chart where one is named.
	Size      int64
	MediaType string
}

// Audit writes e as one line, "audit", at info level. The request id is
// the context's (Handler adds it); empty fields are left out.
func Audit(ctx context.Context, log *slog.Logger, e Event) {
	actor := []any{slog.String("kind", e.Actor.Kind), slog.Int64("id", e.Actor.ID), slog.String("name", e.Actor.Name)}
	if e.Actor.Asserted != "" {
		actor = append(actor, slog.String("asserted", e.Actor.Asserted))
	}
	attrs := []slog.Attr{slog.String("action", e.Action), slog.Group("actor", actor...)}
	for _, f := range []struct{ k, v string }{
		{"project", e.Project}, {"repository", e.Repository}, {"tag", e.Tag}, {"digest", e.Digest}, {"target", e.Target},
		{"result", e.Result},
	} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.k, f.v))
		}
	}
	if e.RequestID != "" && e.RequestID != RequestID(ctx) {
		attrs = append(attrs, slog.String("request_id", e.RequestID))
	}
	Logger(log).LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}
