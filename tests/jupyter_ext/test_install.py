"""The panel installs on a fresh clone without Node: the built labextension is committed
and goes into the wheel as it is."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

EXT = Path(__file__).resolve().parents[2] / "jupyter_ext"


def test_the_wheel_builds_without_node_and_carries_the_labextension(tmp_path: Path) -> None:
    no_node = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no node, no npm
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                           "--no-deps", "-w", str(tmp_path), str(EXT)], env=no_node,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = tmp_path.glob("goldenpath_jupyter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    share = "share/jupyter/labextensions/goldenpath-jupyter/"
    assert any(n.endswith(share + "install.json") for n in names)
    assert any(share + "static/remoteEntry." in n for n in names)
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/goldenpath_jupyter.json")
               for n in names)


def test_the_committed_labextension_matches_its_sources() -> None:
    done = subprocess.run([sys.executable, str(EXT / "scripts" / "source_hash.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
