#!/usr/bin/env bash
# Builds berth's container image offline: stages a build context holding the
# static berth binary, the build machine's CA bundle (Debian's
# ca-certificates), /etc/passwd and /etc/group with the berth user (uid and
# gid 65532), /tmp (1777) and the data directory, then runs docker build with
# deploy/Dockerfile on it. Nothing is pulled: the image is FROM scratch.
#
#   deploy/image.sh BINARY TAG [TAG...]      (make image runs it)
#
# VERSION and COMMIT (from make) become OCI labels. DOCKER names the docker
# client (default: docker on $PATH).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if (($# < 2)); then
  echo "usage: $0 BINARY TAG [TAG...]" >&2
  exit 2
fi
BINARY="$1"
shift
DOCKER="${DOCKER:-docker}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
UID_GID=65532

if [[ ! -x "$BINARY" ]]; then
  echo "image: $BINARY is not an executable (run make build)" >&2
  exit 1
fi
# A scratch image has no libc: the binary must be static.
if command -v file >/dev/null 2>&1 && file -L "$BINARY" | grep -q 'dynamically linked'; then
  echo "image: $BINARY is dynamically linked; build it with CGO_ENABLED=0" >&2
  exit 1
fi
if [[ ! -s "$CA_BUNDLE" ]]; then
  echo "image: no CA bundle at $CA_BUNDLE (install Debian's ca-certificates, or set CA_BUNDLE)" >&2
  exit 1
fi
if ! command -v "$DOCKER" >/dev/null 2>&1; then
  echo "image: no docker client ($DOCKER); install Debian's docker.io" >&2
  exit 1
fi

CTX="$(mktemp -d "${TMPDIR:-/tmp}/berth-image.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/data" "$CTX/rootfs/usr/local/bin" "$CTX/rootfs/etc/ssl/certs" "$CTX/rootfs/tmp"
chmod 0755 "$CTX/data" "$CTX/rootfs" "$CTX/rootfs/usr" "$CTX/rootfs/usr/local" "$CTX/rootfs/usr/local/bin" \
  "$CTX/rootfs/etc" "$CTX/rootfs/etc/ssl" "$CTX/rootfs/etc/ssl/certs"
chmod 1777 "$CTX/rootfs/tmp"
install -m 0755 "$BINARY" "$CTX/rootfs/usr/local/bin/berth"
install -m 0644 "$CA_BUNDLE" "$CTX/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nberth:x:%d:%d:berth:/var/lib/berth:/sbin/nologin\n' "$UID_GID" "$UID_GID" \
  >"$CTX/rootfs/etc/passwd"
printf 'root:x:0:\nberth:x:%d:\n' "$UID_GID" >"$CTX/rootfs/etc/group"
chmod 0644 "$CTX/rootfs/etc/passwd" "$CTX/rootfs/etc/group"

args=(build --quiet --file "$ROOT/deploy/Dockerfile"
  --label "org.opencontainers.image.title=berth"
  --label "org.opencontainers.image.source=https://github.com/berth-registry/berth"
  --label "org.opencontainers.image.version=${VERSION:-dev}"
  --label "org.opencontainers.image.revision=${COMMIT:-}")
for tag in "$@"; do args+=(--tag "$tag"); done
# The classic builder: Debian's docker.io has no buildx plugin, and a
# scratch image needs none of BuildKit's features. Newer docker clients
# warn that it is deprecated; the warning is dropped.
set +e
DOCKER_BUILDKIT=0 "$DOCKER" "${args[@]}" "$CTX" 2>&1 |
  { grep -v -e '^DEPRECATED: The legacy builder' -e 'BuildKit is currently disabled' -e 'environment-variable\.$' || true; }
rc=${PIPESTATUS[0]}
set -e
if ((rc != 0)); then
  echo "image: docker build failed (exit $rc)" >&2
  exit "$rc"
fi
echo "image: built $*" >&2
