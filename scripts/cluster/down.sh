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

# Reverse start order: clients first, etcd last.
COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
[[ -n "$ONLY" ]] && COMPONENTS=("$ONLY")

# stop NAME: TERM the recorded pid, KILL it after 15 s. The pid is only
# signalled while it still runs the component's binary (pids get reused).
stop() {
  local name="$1" pidfile="$STATE/pids/$1.pid" pid i
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ -z "$pid" ]] || ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "/$name "; then
    rm -f "$pidfile"; return
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not exit, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  # Wait until it is really gone, so its port is free for a restart.
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pidfile"
}

for c in "${COMPONENTS[@]}"; do stop "$c"; done
