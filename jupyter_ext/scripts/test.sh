#!/usr/bin/env bash
# Installs what the Jupyter extension's tests need and runs all three levels:
# jest (frontend logic), pytest + jp_fetch (server handlers, real promotion server),
# Galata in Debian's headless Chromium (the panel, end to end). CI calls this script.
#
#   jupyter_ext/scripts/test.sh [jest|pytest|ui ...]     # default: all three
#   GP_UI_TESTS=rollout jupyter_ext/scripts/test.sh ui   # only the Galata specs matching it
#                                                        # (an extended regex over file names)
#
# Python: the active virtualenv (else <repo>/.venv). Screenshot: $ARTIFACTS_DIR/panel.png
# (default <repo>/test-artifacts). Exit status is non-zero when any level failed.
set -uo pipefail

EXT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$EXT/.." && pwd)"
LEVELS=("${@:-jest pytest ui}")
LEVELS=(${LEVELS[*]})
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$REPO/test-artifacts}"
export GP_ARTIFACTS_DIR="$ARTIFACTS_DIR"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 BENTOML_DO_NOT_TRACK=True
mkdir -p "$ARTIFACTS_DIR"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }

if [[ -z "${VIRTUAL_ENV:-}" && -x "$REPO/.venv/bin/python" ]]; then
  # shellcheck disable=SC1091
  source "$REPO/.venv/bin/activate"
fi
PYTHON="$(command -v python)" || die "no python: activate the project's virtualenv"
export PYTHON

step "install: python test tools and the extension"
python -m pip install -q "pytest-jupyter[server]>=0.6" "hatch-jupyter-builder>=0.5" \
  "hatchling>=1.5" "jupyterlab>=4,<5" ipywidgets || die "pip install failed"
# the tests start a real promotion server: the goldenpath distribution with its server extra
python -c "import goldenpath, goldenpath_server, fastapi, sqlalchemy, uvicorn" 2>/dev/null \
  || python -m pip install -q -e "$REPO[server]" \
  || die "the goldenpath SDK and server are not installed and could not be installed"

npm_ci() {  # npm ci unless node_modules already matches the lockfile
  local dir="$1"
  if [[ ! -f "$dir/node_modules/.package-lock.json" ||
        "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund) || die "npm ci failed in $dir"
  fi
}
python "$EXT/scripts/source_hash.py" --check || die "the committed labextension is stale"
# the panel's contract: the rules it shares with the server, and the types from the OpenAPI
# document (tsc then refuses a field the contract lacks)
python "$EXT/scripts/gen_rules.py" --check || die "src/_rules.ts is stale"
npm_ci "$EXT"
if [[ -f "$REPO/docs/openapi.json" ]]; then
  (cd "$EXT" && npx openapi-typescript ../docs/openapi.json -o src/_openapi.d.ts --check) || die "src/_openapi.d.ts is stale: run npm run gen:api in jupyter_ext and commit it"
fi
(cd "$EXT" && npm run build:prod) || die "building the labextension failed"
python -m pip install -q --no-build-isolation --no-deps --force-reinstall "$EXT" \
  || die "pip install of goldenpath_jupyter failed"
labext="$(jupyter labextension list 2>&1)"
grep -q "goldenpath-jupyter.*enabled.*OK" <<<"$labext" \
  || die "goldenpath-jupyter is not enabled in jupyter labextension list: $labext"
serverext="$(jupyter server extension list 2>&1)"
grep -q "goldenpath_jupyter.*enabled" <<<"$serverext" \
  || die "goldenpath_jupyter is not enabled in jupyter server extension list: $serverext"
echo "goldenpath-jupyter: prebuilt labextension and server extension enabled"

failed=()

run_jest() {
  step "jest"
  (cd "$EXT" && npx jest) || failed+=(jest)
}

run_pytest() {
  step "pytest (jp_fetch, real goldenpath server)"
  (cd "$REPO" && python -m pytest tests/jupyter_ext -q) || failed+=(pytest)
}

# Each Galata spec runs against a platform (a real promotion server, seeded): specs/platform
# pairs below; a spec not named runs against tests/jupyter_ext/_platform.py.
OWN_PLATFORM=(drift.spec.ts:"$EXT/ui-tests/drift_platform.py")

run_ui() {
  step "UI test (Galata, headless Debian Chromium)"
  if ! command -v chromium >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      >/dev/null || die "could not install chromium (apt-get install chromium)"
  fi
  npm_ci "$EXT/ui-tests"
  local specs=() own=() pair spec
  for pair in "${OWN_PLATFORM[@]}"; do own+=("${pair%%:*}"); done
  for spec in "$EXT"/ui-tests/tests/*.spec.ts; do
    spec="$(basename "$spec")"
    [[ -n "${GP_UI_TESTS:-}" ]] && ! grep -qE "${GP_UI_TESTS}" <<<"$spec" && continue
    [[ " ${own[*]} " == *" $spec "* ]] || specs+=("tests/$spec")
  done
  ((${#specs[@]})) && ui_on "$REPO/tests/jupyter_ext/_platform.py" "${specs[@]}"
  for pair in "${OWN_PLATFORM[@]}"; do
    spec="${pair%%:*}"
    [[ -n "${GP_UI_TESTS:-}" ]] && ! grep -qE "${GP_UI_TESTS}" <<<"$spec" && continue
    ui_on "${pair#*:}" "tests/$spec"
  done
  [[ -f "$ARTIFACTS_DIR/panel.png" ]] && echo "screenshot: $ARTIFACTS_DIR/panel.png"
}

ui_on() {  # ui_on PLATFORM_SCRIPT SPEC...: start that platform and a JupyterLab, run the specs
  local script="$1" state platform_pid
  shift
  state="$(mktemp -d /tmp/gp-ui-XXXXXX)"
  python "$script" --state "$state" >"$state/platform.log" 2>&1 &
  platform_pid=$!
  for _ in $(seq 600); do  # _platform.py deploys iris, then flowers v1 and v2 (a canary in prod)
    [[ -f "$state/server.json" ]] && break
    kill -0 "$platform_pid" 2>/dev/null || break
    sleep 1
  done
  if [[ ! -f "$state/server.json" ]]; then
    cat "$state/platform.log" >&2
    kill "$platform_pid" 2>/dev/null
    failed+=(ui)
    return
  fi
  GOLDENPATH_SERVER="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$state/server.json")"
  GOLDENPATH_TOKEN="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$state/server.json")"
  GP_UI_PORT="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  export GOLDENPATH_SERVER GOLDENPATH_TOKEN GP_UI_PORT
  # kernels started by the test's JupyterLab deploy with this server, token and model store;
  # alice (the panel's user) approves what bob asked for: four eyes. GP_UI_STATE: the
  # platform's server.json, for specs that drive it further
  GOLDENPATH_USER=alice BENTOML_HOME="$state/bentoml" GP_UI_STATE="$state" \
    JUPYTERLAB_GALATA_ROOT_DIR="$(mktemp -d "$state/lab-XXXX")" \
    bash -c 'cd "$1/ui-tests" && shift && npx playwright test "$@"' _ "$EXT" "$@" \
    || failed+=(ui)
  kill "$platform_pid" 2>/dev/null
  wait "$platform_pid" 2>/dev/null
  unset GOLDENPATH_SERVER GOLDENPATH_TOKEN
}

for level in "${LEVELS[@]}"; do
  case "$level" in
    jest) run_jest ;;
    pytest) run_pytest ;;
    ui) run_ui ;;
    *) die "unknown level $level (jest, pytest, ui)" ;;
  esac
done

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all passed: ${LEVELS[*]}"
