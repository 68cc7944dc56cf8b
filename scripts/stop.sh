#!/usr/bin/env bash
# Stop the demo's promotion server and the model processes it started.
set -euo pipefail
home=${GOLDENPATH_HOME:-$HOME/.goldenpath}
if [ -f "$home/server.pid" ]; then kill "$(cat "$home/server.pid")" 2>/dev/null || true; rm -f "$home/server.pid"; fi
pkill -f "bentoml serve $home/" 2>/dev/null || true
pkill -f "_bentoml_impl.worker.service $home/" 2>/dev/null || true
echo "stopped"
