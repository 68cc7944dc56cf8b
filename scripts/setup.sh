#!/usr/bin/env bash
# Create .venv and install goldenpath (editable). `--test` adds the test dependencies.
# Idempotent and quick when nothing changed: pip's cache keeps later installs cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=25.1" wheel
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e ".[notebook,postgres]" --group test
else
  .venv/bin/python -m pip install -q -e ".[notebook]"
fi
