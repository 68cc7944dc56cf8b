#!/usr/bin/env bash
# Create .venv and install goldenpath (editable). `--test` adds the test dependencies.
# Idempotent and quick when nothing changed: pip's cache keeps later installs cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# bubblewrap isolates the serving processes (model code) from the server; without it the
# server falls back to weaker isolation and says so (docs/security.md)
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing bubblewrap from Debian (the serving processes' sandbox)..." >&2
    { apt-get install -y -qq bubblewrap || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; } \
      >/dev/null 2>&1 || echo "could not install bubblewrap: serving processes get weaker isolation" >&2
  else
    echo "bubblewrap is not installed: install it (sudo apt-get install bubblewrap) so model code runs sandboxed" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=25.1" wheel hatchling "hatch-jupyter-builder>=0.5"
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e ".[notebook,postgres,server]" --group test
else
  .venv/bin/python -m pip install -q -e ".[notebook,server]"
fi
# the JupyterLab panel, prebuilt (the labextension is committed: no Node needed)
.venv/bin/python -m pip install -q --no-build-isolation --no-deps ./jupyter_ext
