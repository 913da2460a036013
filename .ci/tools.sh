#!/usr/bin/env bash
# Installs every tool the tests need, pinned, into $TOOLS_DIR/bin (default
# ~/.cache/berth-tools, outside the clone so a second clone or CI run reuses it),
# and links .tools to it. A second run only checks each binary's version stamp.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-tools}"
BIN="$TOOLS/bin"
mkdir -p "$BIN"
if [[ ! -e "$ROOT/.tools" || -L "$ROOT/.tools" ]]; then
  ln -sfn "$TOOLS" "$ROOT/.tools"
fi

# name | go package@version
GO_TOOLS=(
  "minio|github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
  "crane|github.com/google/go-containerregistry/cmd/crane@v0.22.1"
  "oras|oras.land/oras/cmd/oras@v1.3.6"
  "regctl|github.com/regclient/regclient/cmd/regctl@v0.11.7"
  "helm|helm.sh/helm/v3/cmd/helm@v3.22.0"
  "conformance|github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"
  "registry|github.com/distribution/distribution/v3/cmd/registry@v3.1.2"
  "staticcheck|honnef.co/go/tools/cmd/staticcheck@v0.8.2"
)
# docker.io: the engine the container-image tests build and run the image
# with (.ci/dockerd.sh starts it); docker-compose: deploy/compose.yaml's
# test; redis-server: the replicas' shared cache; ca-certificates: the CA
# bundle the image carries.
DEB_PACKAGES=(skopeo postgresql chromium gnupg docker.io docker-compose redis-server ca-certificates)

install_go_tool() {
  local name="$1" pkg="$2" stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pkg" ]]; then
    return 0
  fi
  echo "tools: go install $pkg" >&2
  local tmp
  tmp="$(mktemp -d)"
  GOBIN="$tmp" CGO_ENABLED=0 go install "$pkg"
  local built
  built="$(ls "$tmp")"
  mv "$tmp/$built" "$BIN/$name"
  rmdir "$tmp"
  echo "$pkg" >"$stamp"
}

install_debs() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "tools: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

main() {
  local only="${1:-all}"
  if [[ "$only" == all || "$only" == deb ]]; then install_debs; fi
  if [[ "$only" == all || "$only" == go ]]; then
    # Build up to two at a time: the machine has two cores.
    local pids=() entry
    for entry in "${GO_TOOLS[@]}"; do
      install_go_tool "${entry%%|*}" "${entry#*|}" &
      pids+=($!)
      if ((${#pids[@]} >= 2)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p"; done
  fi
  echo "tools: ready in $BIN" >&2
}
main "$@"
