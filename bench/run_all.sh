#!/usr/bin/env bash
# Reproduce every table in docs/benchmarks.md on a fresh machine, in about 12 minutes on
# 2 cores (plus ~3 minutes the first time, to create bench/.venv-peers and install wrk/hey).
#
#   bench/run_all.sh                 everything, then re-render docs/benchmarks.md
#   DEPLOY_REPS=5 SERVING_REPS=3 bench/run_all.sh      more repetitions (slower)
#   bench/run_all.sh --head          measure the last commit (a `git archive HEAD` copy),
#                                    not the working tree someone may be editing
#   BENCH_PRODUCT_SRC=/path/to/checkout bench/run_all.sh   measure another product checkout
#                                    (its sdk/ server/ serving/ go first on PYTHONPATH)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=True PYTHONDONTWRITEBYTECODE=
[ -x .venv/bin/python ] || scripts/setup.sh
bench/setup.sh
if [ "${1:-}" = "--head" ]; then
  BENCH_PRODUCT_SRC=$(mktemp -d /tmp/goldenpath-head-XXXXXX)
  git archive HEAD | tar -x -C "$BENCH_PRODUCT_SRC"
  export BENCH_PRODUCT_SRC BENCH_PRODUCT_COMMIT="$(git rev-parse --short HEAD)"
  trap 'rm -rf "$BENCH_PRODUCT_SRC"' EXIT
elif [ -z "${BENCH_PRODUCT_SRC:-}" ]; then
  dirty=$([ -n "$(git status --porcelain -- sdk server serving)" ] && echo "+uncommitted" || true)
  export BENCH_PRODUCT_COMMIT="$(git rev-parse --short HEAD)$dirty"
fi
if [ -n "${BENCH_PRODUCT_SRC:-}" ]; then
  export PYTHONPATH="$BENCH_PRODUCT_SRC/sdk:$BENCH_PRODUCT_SRC/server:$BENCH_PRODUCT_SRC/serving"
fi
PY=.venv/bin/python
mkdir -p bench/results
timings=()
step() {  # step NAME COMMAND...: run one benchmark, keep its wall time
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name: $*" >&2
  "$@"
  timings+=("\"$name\": $((SECONDS - t0))")
}
step deploy  $PY bench/bench_deploy.py --reps "${DEPLOY_REPS:-3}"
step phases  $PY bench/profile_deploy.py
step serving $PY bench/bench_serving.py --reps "${SERVING_REPS:-2}"
step server  $PY bench/bench_server.py
step bundle  $PY bench/bench_bundle.py
step kubernetes $PY bench/bench_kubernetes.py
step drift   $PY bench/drift_window.py
step inference_log $PY bench/inference_log.py
(IFS=,; echo "{${timings[*]}}") > bench/results/timings.json
$PY bench/report.py
echo "tables: docs/benchmarks.md; raw results: bench/results/*.json" >&2
