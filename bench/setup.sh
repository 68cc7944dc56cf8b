#!/usr/bin/env bash
# Installs what the benchmarks need, outside the product's dependencies:
#   bench/.venv-peers  BentoML + MLflow + scikit-learn at the product's exact versions
#                      (every shared dependency constrained to the product venv's pins),
#                      plus py-spy for the profiles
#   wrk (apt)          HTTP load generator for serving latency/throughput
#   bench/.tools/bin/hey (go install)  rate-limited load generator (status reads at 200 req/s)
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCT_PY=${PRODUCT_PY:-.venv/bin/python}
PEERS=bench/.venv-peers
TOOLS=bench/.tools/bin
export BENTOML_DO_NOT_TRACK=True PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x "$PRODUCT_PY" ] || { echo "product venv missing: create .venv first (pip install -e . --group test)" >&2; exit 1; }

# 1. the peers' virtualenv, pinned to the product's versions
pins=$(mktemp)
"$PRODUCT_PY" -m pip freeze --exclude-editable | grep -v -i '^goldenpath' > "$pins"
ver() { grep -i "^$1==" "$pins" | head -1 | cut -d= -f3; }
BENTOML_V=$(ver bentoml); MLFLOW_V=$(ver mlflow); SKLEARN_V=$(ver scikit-learn); UVICORN_V=$(ver uvicorn)
want="bentoml==$BENTOML_V mlflow==$MLFLOW_V scikit-learn==$SKLEARN_V uvicorn==$UVICORN_V"
if [ -x $PEERS/bin/python ] && [ "$(cat $PEERS/.pins 2>/dev/null)" = "$want" ]; then
  echo "peers venv up to date: $want"
else
  base=$("$PRODUCT_PY" -c 'import sys; print(sys._base_executable)')
  rm -rf $PEERS
  "$base" -m venv $PEERS
  $PEERS/bin/python -m pip install -q -c "$pins" $want py-spy
  echo "$want" > $PEERS/.pins
  echo "peers venv created: $want"
fi
rm -f "$pins"

# 2. wrk from Debian (waits for a dpkg lock held by another build)
if ! command -v wrk >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -q wrk >/dev/null || {
    apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -q wrk >/dev/null; }
fi
echo "wrk: $(command -v wrk)"

# 3. hey from the Go module proxy
mkdir -p $TOOLS
[ -x $TOOLS/hey ] || GOBIN="$PWD/$TOOLS" go install github.com/rakyll/hey@v0.1.4
echo "hey: $TOOLS/hey"
