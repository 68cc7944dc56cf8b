#!/usr/bin/env bash
# Stop the promotion server whose state is in GOLDENPATH_HOME (default ~/.goldenpath) and the
# model processes it started, however it was started (make demo, the CLI, gp.deploy's autostart).
set -euo pipefail
cd "$(dirname "$0")/.."
home=${GOLDENPATH_HOME:-$HOME/.goldenpath}
if [ -x .venv/bin/goldenpath ]; then
  .venv/bin/goldenpath server stop --home "$home" || true
else
  echo "no .venv: nothing was installed here, so nothing runs" >&2
fi
