#!/usr/bin/env bash
# The main job on the embedded default: start the promotion server (SQLite + local process
# target + artifacts on local disk), run notebooks/quickstart.ipynb (train, gp.deploy, call
# the endpoint) and print the endpoint URL and a real prediction.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=True
export GOLDENPATH_HOME=${GOLDENPATH_HOME:-$HOME/.goldenpath}
PORT=${GOLDENPATH_PORT:-8731}
export GOLDENPATH_SERVER="http://127.0.0.1:$PORT"
mkdir -p "$GOLDENPATH_HOME"
if ! curl -sf "$GOLDENPATH_SERVER/healthz" >/dev/null; then
  echo "starting the promotion server on $GOLDENPATH_SERVER (state in $GOLDENPATH_HOME)"
  nohup .venv/bin/goldenpath server --port "$PORT" --home "$GOLDENPATH_HOME" \
    >>"$GOLDENPATH_HOME/server.log" 2>&1 &  # it writes its own server.pid
  for _ in $(seq 1 150); do curl -sf "$GOLDENPATH_SERVER/healthz" >/dev/null && break; sleep 0.2; done
fi
out=$(mktemp -d)
echo "running notebooks/quickstart.ipynb ..."
.venv/bin/jupyter nbconvert --to notebook --execute notebooks/quickstart.ipynb \
  --output-dir "$out" --ExecutePreprocessor.timeout=600 >/dev/null 2>"$out/nbconvert.log" || {
  cat "$out/nbconvert.log"; exit 1; }
.venv/bin/python - "$out/quickstart.ipynb" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
for cell in nb["cells"]:
    for output in cell.get("outputs", []):
        for line in "".join(output.get("text", "")).splitlines():
            if line.startswith(("endpoint:", "prediction:")):
                print(line)
PY
.venv/bin/goldenpath ls
echo
echo "The server keeps running: try the endpoint with curl, or open JupyterLab with the"
echo "Deployments panel (left sidebar, the cube icon; caption \"Deployments\") on the same server:"
echo "  GOLDENPATH_SERVER=$GOLDENPATH_SERVER .venv/bin/jupyter lab notebooks/"
echo "Stop everything with: make stop"
