"""The prebuilt labextension is committed, so `pip install ./jupyter_ext` needs no Node. This
keeps it honest: `--write` records the SHA-256 of the sources it was built from (after
`npm run build:prod`), `--check` fails when the sources changed since (CI runs it first).

    python jupyter_ext/scripts/source_hash.py --check | --write
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

EXT = Path(__file__).resolve().parent.parent
RECORD = EXT / "goldenpath_jupyter" / "labextension" / "source.sha256"
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "install.json", "src",
           "style")


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = EXT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__tests__" in file.parts:
                continue  # jest's specs are not in the bundle
            digest.update(str(file.relative_to(EXT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def main() -> None:
    if sys.argv[1:] == ["--write"]:
        RECORD.write_text(source_hash() + "\n")
        return
    recorded = RECORD.read_text().strip() if RECORD.exists() else "(none)"
    if recorded != source_hash():
        sys.exit("the committed labextension (jupyter_ext/goldenpath_jupyter/labextension) was "
                 "built from other sources: run `cd jupyter_ext && npm run build:prod` and "
                 "commit goldenpath_jupyter/labextension")
    print("the committed labextension matches its sources")


if __name__ == "__main__":
    main()
