#!/usr/bin/env bash
# Stop a cluster started by up.sh. Keeps STATE_DIR (etcd data, certs, logs):
# up.sh on the same dir brings it back; delete the dir to forget it.
#
#   scripts/cluster/down.sh [STATE_DIR]                      # everything
#   scripts/cluster/down.sh --only kube-apiserver STATE_DIR  # one component
set -euo pipefail

log() { printf '[down %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ONLY=""
if [[ "${1:-}" == "--only" ]]; then ONLY="${2:?--only needs a component name}"; shift 2; fi
STATE="${1:-${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/cluster}"
[[ -d "$STATE/pids" ]] || { log "nothing to stop in $STATE"; exit 0; }

# Grace period before SIGKILL. kube-apiserver stops listening at once on SIGTERM
# but may then wait for open watches to drain; nobody needs that here.
GRACE_S="${GOLDENPATH_CLUSTER_STOP_GRACE_S:-5}"

# pid_of NAME: the recorded pid while it still runs the component's binary
# (pids get reused, so never signal a pid just because a file names it).
pid_of() {
  local pid
  pid="$(cat "$STATE/pids/$1.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "/$1 " && echo "$pid"
  return 0
}

# stop NAME...: SIGTERM them together, SIGKILL what is left after GRACE_S, and
# wait until all are gone so their ports are free for a restart.
stop() {
  local name pid pids=() i
  for name in "$@"; do
    pid="$(pid_of "$name")"
    rm -f "$STATE/pids/$name.pid"
    [[ -n "$pid" ]] || continue
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  ((${#pids[@]})) || return 0
  alive() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
  for ((i = 0; i < GRACE_S * 10; i++)); do alive || return 0; sleep 0.1; done
  log "still running after ${GRACE_S}s, sending SIGKILL: ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive || return 0; sleep 0.1; done
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -f "$STATE/cluster.env" ]] && source "$STATE/cluster.env"
# shellcheck source=node.sh
source "$HERE/node.sh"

if [[ -n "$ONLY" ]]; then
  stop "$ONLY"
else
  # The real node first: its pods go with it (containers, network namespaces, cgroups).
  stop kubelet
  node_remove_pods
  stop containerd
  node_cleanup
  # Clients first, then the API server, etcd last.
  stop kwok kube-scheduler kube-controller-manager
  stop kube-apiserver
  stop etcd
  # The watchdog up.sh may have started (unless this is the watchdog itself,
  # which has exec'd into this script by now and so no longer matches).
  pid="$(cat "$STATE/pids/watchdog.pid" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "goldenpath-cluster-watchdog "; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pids/watchdog.pid"
fi
