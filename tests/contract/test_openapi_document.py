"""docs/openapi.json is what the server serves: clients (the panel's TypeScript types, the
SDK's models) are generated from it, so a stale copy fails here with the command to run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_document_is_current() -> None:
    check = subprocess.run([sys.executable, str(REPO / "scripts" / "openapi.py"), "--check"],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    assert check.returncode == 0, check.stderr


def test_a_stale_document_is_named_with_the_fix(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    check = subprocess.run([sys.executable, str(REPO / "scripts" / "openapi.py"), "--check",
                            "--output", str(stale)], capture_output=True, text=True,
                           timeout=120, cwd=REPO)
    assert check.returncode == 1 and "python scripts/openapi.py" in check.stderr


def test_every_operation_documents_its_answers() -> None:
    document = json.loads((REPO / "docs" / "openapi.json").read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            success = [s for s in answers if s.startswith("2")]
            assert success, f"{method} {path} documents no success"
            # 422 is policy_denied: a promotion, or a person promoting a progressive rollout
            assert "422" not in answers or path.endswith(
                ("/promotions", "/deployments", "/rollout/{action}")), (
                f"{method} {path}: invalid input is a 400, not FastAPI's 422")
            for status, answer in answers.items():
                if int(status) >= 400:
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"
            if path.startswith("/api/v1") and "bundles" not in path:
                assert "401" in answers and operation.get("security"), f"{method} {path}"
