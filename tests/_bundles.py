"""Bundles in tests: replay a bundle's parity sample as its serving runtime does at load."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

_REPLAY = """
import sys
sys.path.insert(0, sys.argv[1])
from goldenpath_serving._model import load_model
print(load_model(sys.argv[2]).check_parity())
"""


def replay(archive: Path) -> int:
    """Unpack `archive` and replay its notebook sample in a fresh interpreter with the
    bundle's own runtime copy (what the serving process does before it reports ready).
    Returns the rows checked; raises AssertionError with the runtime's output otherwise."""
    unpacked = Path(tempfile.mkdtemp(prefix="replay-"))
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    [model_dir] = [p.parent for p in (unpacked / "models").rglob("goldenpath.json")]
    done = subprocess.run([sys.executable, "-P", "-c", _REPLAY, str(unpacked / "src"),
                           str(model_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split()[-1])
