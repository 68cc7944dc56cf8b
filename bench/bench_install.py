"""What a notebook installs: `pip install goldenpath` (the SDK, CLI and widgets) against
`pip install 'goldenpath[server]'` (the server's stack too: what every notebook installed
before the server became an extra), side by side in one run.

Each install goes into a fresh virtualenv from the same wheel, with pip's cache warmed by a
first round (so the figures compare what is installed, not the network). Reported: wall
time, distributions installed, and the size of the virtualenv's site-packages.

    .venv/bin/python bench/bench_install.py [--reps 2]     # ~5 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"goldenpath (client)": "", "goldenpath[server]": "[server]"}


def _wheel(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(where), str(REPO)], check=True)
    (wheel,) = where.glob("goldenpath-*.whl")
    return wheel


def _install(wheel: Path, extra: str, where: Path) -> dict[str, float]:
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    started = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"{wheel}{extra}"], check=True)
    seconds = time.perf_counter() - started
    listed = json.loads(subprocess.run([str(python), "-m", "pip", "list", "--format", "json"],
                                       check=True, capture_output=True, text=True).stdout)
    site = next(where.glob("lib/python*/site-packages"))
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    names = {p["name"].lower() for p in listed}
    return {"seconds": seconds, "distributions": len(listed), "megabytes": size / 1e6,
            "fastapi": "fastapi" in names, "sqlalchemy": "sqlalchemy" in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/install.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gp-install-") as tmp:
        root = Path(tmp)
        wheel = _wheel(root / "wheels")
        _install(wheel, "[server]", root / "warm")  # warms pip's cache with the superset
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for rep in range(args.reps):  # interleaved, so both see the same machine
            for name, extra in VARIANTS.items():
                runs[name].append(_install(wheel, extra, root / f"{rep}-{extra or 'client'}"))
    result = {name: {"seconds": statistics.median(r["seconds"] for r in rs),
                     "distributions": rs[-1]["distributions"],
                     "megabytes": round(rs[-1]["megabytes"], 1),
                     "fastapi": rs[-1]["fastapi"], "sqlalchemy": rs[-1]["sqlalchemy"]}
              for name, rs in runs.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| install | time (median of {args.reps}) | distributions | site-packages | "
          "FastAPI | SQLAlchemy |\n|---|---|---|---|---|---|")
    for name, r in result.items():
        print(f"| `pip install {name.split()[0]}` | {r['seconds']:.0f} s | "
              f"{r['distributions']} | {r['megabytes']:.0f} MB | "
              f"{'yes' if r['fastapi'] else 'no'} | {'yes' if r['sqlalchemy'] else 'no'} |")


if __name__ == "__main__":
    main()
