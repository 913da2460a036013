package gc

import "github.com/docker/go-metrics"

// Prometheus metrics of the collector, served on /metrics.
var (
	ns               = metrics.NewNamespace("berth", "gc", nil)
	blobsDeleted     = ns.NewCounter("blobs_deleted", "Blobs whose data garbage collection deleted")
	bytesFreed       = ns.NewCounter("bytes_freed", "Bytes of blob data garbage collection deleted")
	manifestsDeleted = ns.NewCounter("manifests_deleted", "Untagged manifests garbage collection deleted")
	linksRemoved     = ns.NewCounter("links_removed", "Repository links of blobs garbage collection removed")
	errorsTotal      = ns.NewCounter("errors", "Reviews that failed (retried with backoff)")
	queueLength      = ns.NewGauge("queue_length", "Reviews queued", metrics.Unit(""))
	overdue          = ns.NewGauge("overdue", "Reviews due now and not yet carried out", metrics.Unit(""))
	passSeconds      = ns.NewTimer("pass", "Duration of a garbage-collection pass")
)

func init() { metrics.Register(ns) }
