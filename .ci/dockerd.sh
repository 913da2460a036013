#!/usr/bin/env bash
# Starts a Docker engine for the container-image tests unless one answers
# already: Debian's dockerd (.ci/tools.sh installs docker.io), as root, with
# the vfs storage driver and no bridge or iptables rules (containers use
# --network host). It runs in the background, logging to .cache/dockerd.log;
# the tests wait until it answers (they fail under CI=1 if it never does).
#
#   bash .ci/dockerd.sh          start it (CI runs this before make test)
#   bash .ci/dockerd.sh stop     stop the engine this script started
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG="$ROOT/.cache/dockerd.log"
PIDFILE="$ROOT/.cache/dockerd.pid"
mkdir -p "$ROOT/.cache"
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=docker

if [[ "${1:-start}" == stop ]]; then
  if [[ -f $PIDFILE ]]; then
    pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    rm -f "$PIDFILE"
  fi
  exit 0
fi

if "$DOCKER" info >/dev/null 2>&1; then
  echo "dockerd: already running" >&2
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1 && [[ ! -x /usr/sbin/dockerd ]]; then
  echo "dockerd: not installed (bash .ci/tools.sh deb installs docker.io)" >&2
  exit 1
fi
if [[ $(id -u) != 0 ]]; then
  echo "dockerd: needs root" >&2
  exit 1
fi
DOCKERD="$(command -v dockerd || echo /usr/sbin/dockerd)"
# setsid: the engine outlives this script and is not in CI's process group.
setsid "$DOCKERD" --iptables=false --bridge=none --storage-driver vfs \
  --pidfile /var/run/docker.pid >"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"
echo "dockerd: started (pid $!, log $LOG)" >&2
