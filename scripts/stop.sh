#!/usr/bin/env bash
# Stop the demo's promotion server and the model processes it started.
set -euo pipefail
home=${GOLDENPATH_HOME:-$HOME/.goldenpath}
if [ -f "$home/server.pid" ]; then kill "$(cat "$home/server.pid")" 2>/dev/null || true; rm -f "$home/server.pid"; fi
pkill -f "bentoml serve $home/" 2>/dev/null || true
pkill -f "_bentoml_impl.worker.service $home/" 2>/dev/null || true
pkill -f "_warm_worker.py $home/runtime" 2>/dev/null || true  # the zygote and its forks
echo "stopped"
