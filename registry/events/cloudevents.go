package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// TypePrefix starts every CloudEvents type berth sends: the action follows
// ("io.berth.artifact.push").
const TypePrefix = "io.berth."

// Headers of a webhook delivery.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body, keyed with the webhook's secret.
	SignatureHeader = "X-Berth-Signature-256"
	// DeliveryHeader is the delivery's id; the event's id is the
	// CloudEvent's id (de-duplicate on that one: a retry or another
	// replica may deliver an event again).
	DeliveryHeader = "X-Berth-Delivery"
	ContentType    = "application/cloudevents+json"
)

// CloudEvent is the structured-mode JSON of CloudEvents 1.0.
type CloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject,omitempty"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            Data   `json:"data"`
}

// Data is what every event carries; fields that do not apply are left out.
type Data struct {
	Action     string         `json:"action"`
	Actor      Actor          `json:"actor"`
	ClientAddr string         `json:"clientAddr,omitempty"`
	UserAgent  string         `json:"userAgent,omitempty"`
	RequestID  string         `json:"requestId,omitempty"`
	Project    string         `json:"project,omitempty"`
	Repository string         `json:"repository,omitempty"`
	Tag        string         `json:"tag,omitempty"`
	Digest     string         `json:"digest,omitempty"`
	MediaType  string         `json:"mediaType,omitempty"`
	Size       int64          `json:"size,omitempty"`
	Target     string         `json:"target,omitempty"`
	Result     string         `json:"result"`
	Details    map[string]any `json:"details,omitempty"`
}

// Actor is who acted: kind user, app (robot), anonymous or system.
type Actor struct {
	Kind string `json:"kind"`
	ID   int64  `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// ToCloudEvent turns a stored event into its CloudEvent; source names the
// registry (its public URL, or "/berth").
func ToCloudEvent(e metadata.Event, source string) CloudEvent {
	ce := CloudEvent{SpecVersion: "1.0", ID: e.ID, Source: source, Type: TypePrefix + e.Type,
		Time: e.At.UTC().Format(time.RFC3339Nano), DataContentType: "application/json",
		Data: Data{Action: e.Type, Actor: Actor{Kind: e.ActorKind, ID: e.ActorID, Name: e.ActorName},
			ClientAddr: e.ClientAddr, UserAgent: e.UserAgent, RequestID: e.RequestID, Project: e.Project,
			Repository: e.Repository, Tag: e.Tag, Digest: e.Digest, MediaType: e.MediaType, Size: e.Size,
			Target: e.Target, Result: e.Result}}
	if e.Data != "" && e.Data != "{}" {
		_ = json.Unmarshal([]byte(e.Data), &ce.Data.Details)
	}
	switch {
	case e.Repository != "" && e.Tag != "":
		ce.Subject = e.Repository + ":" + e.Tag
	case e.Repository != "" && e.Digest != "":
		ce.Subject = e.Repository + "@" + e.Digest
	case e.Repository != "":
		ce.Subject = e.Repository
	case e.Project != "":
		ce.Subject = e.Project
	case e.Target != "":
		ce.Subject = e.Target
	}
	return ce
}

// Render is the JSON of an event's CloudEvent.
func Render(e metadata.Event, source string) (string, error) {
	b, err := json.Marshal(ToCloudEvent(e, source))
	return string(b), err
}

// Sign is the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is body's signature under secret (in
// constant time): what a receiver does.
func Verify(secret string, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	want, _ := strings.CutPrefix(Sign(secret, body), "sha256=")
	return hmac.Equal([]byte(got), []byte(want))
}
