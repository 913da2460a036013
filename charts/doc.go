// Package charts will hold berth's classic Helm chart repository: index.yaml
// per project, .tgz download, upload and delete, rendered from the metadata
// index over the OCI charts (<project>/<chart>:<version>) that
// `helm push oci://` already stores. Until then, charts are served over OCI
// only.
package charts
