"""Write the promotion server's OpenAPI document to docs/openapi.json, or check it is current.

    python scripts/openapi.py           # (re)write docs/openapi.json
    python scripts/openapi.py --check   # exit 1 with a hint when it is stale

No server is started: the app is built with Settings in a temporary home (nothing starts
until the app's lifespan runs). The output is sorted and indented, so diffs stay small."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def render() -> str:
    """The document as the app generates it now, in its stable text form."""
    from goldenpath_server import Settings, create_app

    with tempfile.TemporaryDirectory(prefix="gp-openapi-") as home:
        app = create_app(Settings(home=Path(home), token="openapi-document"))
        document = app.openapi()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when docs/openapi.json is stale")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    fresh = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != fresh:
            print(f"{args.output} is stale: the API changed since it was written.\n"
                  "  hint: run `python scripts/openapi.py` and commit docs/openapi.json "
                  "(clients generate their types from it)", file=sys.stderr)
            return 1
        print(f"{args.output} is current")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(fresh)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
