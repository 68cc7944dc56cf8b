"""The docs' examples run as written, in order, against a real server: the embedded default
for the README (what a newcomer starts with), the example platform config
(docs/examples/platform/goldenpath.yaml) for the guides that describe it.

Per document, its ```python blocks run in one namespace (after a prelude that trains the
`model` the examples deploy), its ```console lines that start with `$ ` and its ```bash
blocks run in a shell with the goldenpath CLI on PATH and $SERVER, $TOKEN, $RELEASE set. A
block preceded by `<!-- doc-test: skip REASON -->` is not run; the reason is in the document
for every reader to see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._servers import ServerProcess, start_server, stop_model_processes

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "docs" / "examples" / "platform" / "goldenpath.yaml"
DOCS = {"README.md": None, "docs/models.md": None, "docs/governance.md": EXAMPLE_CONFIG,
        "docs/security.md": EXAMPLE_CONFIG}
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!-- doc-test: skip (.+) -->$")
PRELUDE = '''
import goldenpath as gp
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
model = LogisticRegression(max_iter=500).fit(X_train, y_train)
better_model = LogisticRegression(C=0.5, max_iter=500).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
my_card = "# churn\\n\\nSorting iris flowers in the greenhouse. Not for decisions about people.\\n"
'''


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    code: str
    skip: str = ""


def blocks(doc: str) -> list[Block]:
    """The fenced code blocks of `doc`, with the skip reason written before each, if any."""
    found: list[Block] = []
    lines = (REPO / doc).read_text().splitlines()
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        skip = _SKIP.match(before.strip())
        found.append(Block(doc, i + 1, opened.group(1), "\n".join(lines[i + 1:end]),
                           skip.group(1) if skip else ""))
        i = end + 1
    return found


def console_commands(code: str) -> list[str]:
    """The `$ ` lines of a console block (with their `\\` continuations), comments kept."""
    commands, current = [], ""
    for line in code.splitlines():
        if current:
            current += "\n" + line
        elif line.startswith("$ "):
            current = line[2:]
        if current and not current.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Any, ServerProcess]]:
    """A server per config the docs are written against, in local mode (the docs show
    tokens in their own commands); started when a document first needs it."""
    started: dict[Any, ServerProcess] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, config: Path | None) -> ServerProcess:
            env = {"GOLDENPATH_CONFIG": str(config)} if config else {}
            started[config] = start_server(tmp_path_factory.mktemp("docs"), env)
            return started[config]

    yield Lazy()
    for server in started.values():
        server.stop()
        stop_model_processes(server.home)


def _shell_env(server: ServerProcess, namespace: dict[str, Any]) -> dict[str, str]:
    d = namespace.get("d")
    release = getattr(d, "release_id", "") if d is not None else ""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "COLUMNS": "160",
            "GOLDENPATH_SERVER": server.url, "SERVER": server.url, "TOKEN": "",
            "RELEASE": release}


def _run_shell(command: str, env: dict[str, str], cwd: Path, where: str) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"{where}: `{command}` exited {done.returncode}\n"
                                  f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_the_examples_run_as_written(doc: str, servers: dict[Any, ServerProcess],
                                     tmp_path: Path) -> None:
    import goldenpath
    from goldenpath import _config

    platform = servers[DOCS[doc]]
    previous = _config._current
    goldenpath.configure(server=platform.url)
    for top in ("scripts", "docs", "notebooks"):  # commands written for the repository root,
        (tmp_path / top).symlink_to(REPO / top)  # run where their files may be written
    namespace: dict[str, Any] = {"__name__": f"doc:{doc}"}
    exec(PRELUDE, namespace)  # noqa: S102 - our own prelude
    try:
        for block in blocks(doc):
            where = f"{block.doc}:{block.line}"
            if block.skip or block.lang not in ("python", "console", "bash"):
                continue
            if block.lang == "python":
                exec(compile(block.code, where, "exec"), namespace)  # noqa: S102
            elif block.lang == "console":
                for command in console_commands(block.code):
                    _run_shell(command, _shell_env(platform, namespace), tmp_path, where)
            else:
                _run_shell(block.code, _shell_env(platform, namespace), tmp_path, where)
    finally:
        _config._current = previous


def test_every_skipped_example_says_why() -> None:
    for doc in DOCS:
        for block in blocks(doc):
            assert block.skip == "" or len(block.skip) > 10, f"{doc}:{block.line}"
