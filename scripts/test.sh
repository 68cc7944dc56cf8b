#!/usr/bin/env bash
# Every test: Python (SDK, server, serving, store on SQLite + PostgreSQL, Kubernetes against a
# real control plane), notebooks with nbval, and the JupyterLab extension (jest, pytest, UI).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=True
scripts/setup.sh --test
scripts/ensure-postgres.sh
if [ -x scripts/cluster/build.sh ]; then scripts/cluster/build.sh; fi
# The real node's packages and images (cached by the hash of their inputs: rebuilt only
# when serving/ or scripts/image/ change), before the tests start a cluster with them.
if [ -x scripts/image/build.sh ]; then
  scripts/cluster/install-packages.sh node image podman
  scripts/image/build.sh pause runtime app
  scripts/image/build.sh --podman app >/dev/null  # app releases on the local target
fi
# a real Prometheus for the dashboard's queries (Debian's binary, unpacked into the cache)
export GOLDENPATH_PROMETHEUS="$(scripts/install-prometheus.sh)"
.venv/bin/ruff check sdk server serving tests bench
# types: every package, clean (the same paths as `make lint`)
.venv/bin/mypy sdk/goldenpath sdk/goldenpath_api server/goldenpath_server \
  serving/goldenpath_serving serving/goldenpath_router jupyter_ext/goldenpath_jupyter
.venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
  --ignore=tests/jupyter_ext -p no:cacheprovider "$@"
if [ -x jupyter_ext/scripts/test.sh ]; then jupyter_ext/scripts/test.sh; fi
