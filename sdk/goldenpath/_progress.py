"""Step-by-step progress for a deploy: a widget in a notebook, rich lines in a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any

STEPS = ("package", "upload", "deploy", "live")


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()  # type: ignore[attr-defined]
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class Progress:
    """Shows each step as it starts and ends; `quiet=True` shows nothing."""

    def __init__(self, steps: tuple[str, ...] = STEPS, quiet: bool = False) -> None:
        self.steps = steps
        self.state = {s: "pending" for s in steps}
        self.notes: dict[str, str] = {}
        self.current = ""
        self._t0 = time.monotonic()
        self._started: dict[str, float] = {}
        self._view = None if quiet else (_WidgetView(self) if _in_notebook() else _ConsoleView())

    def start(self, step: str) -> None:
        self.current = step
        self.state[step] = "running"
        self._started[step] = time.monotonic()
        self._show(step)

    def note(self, text: str) -> None:
        if self.current:
            self.notes[self.current] = text
            self._show(self.current)

    def done(self, step: str, note: str = "") -> None:
        self.state[step] = "done"
        if note:
            self.notes[step] = note
        self._show(step)

    def fail(self, message: str) -> None:
        if self.current:
            self.state[self.current] = "failed"
            self.notes[self.current] = message.splitlines()[0]
            self._show(self.current)

    def elapsed(self, step: str) -> float:
        return time.monotonic() - self._started.get(step, self._t0)

    def _show(self, step: str) -> None:
        if self._view is not None:
            self._view.update(self, step)


class _ConsoleView:
    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.icons = {"running": "[cyan]…[/]", "done": "[green]✓[/]", "failed": "[red]✗[/]"}

    def update(self, progress: Progress, step: str) -> None:
        state = progress.state[step]
        if state == "running" and step not in progress.notes:
            self.console.print(f"{self.icons[state]} {step}")
        elif state in ("done", "failed"):
            note = progress.notes.get(step, "")
            self.console.print(f"{self.icons[state]} {step} "
                               f"[dim]({progress.elapsed(step):.1f}s)[/] {note}",
                               highlight=False)


class _WidgetView:
    def __init__(self, progress: Progress) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self.bar = widgets.IntProgress(min=0, max=len(progress.steps), description="deploy")
        self.html = widgets.HTML()
        self.box = widgets.VBox([self.bar, self.html])
        display(self.box)
        self.update(progress, progress.steps[0])

    def update(self, progress: Progress, _step: str) -> None:
        icons = {"pending": "○", "running": "◔", "done": "✅", "failed": "❌"}
        rows = []
        for step in progress.steps:
            note = progress.notes.get(step, "")
            rows.append(f"<div>{icons[progress.state[step]]} <b>{step}</b> "
                        f"<span style='opacity:.7'>{_escape(note)}</span></div>")
        self.html.value = "".join(rows)
        self.bar.value = sum(1 for s in progress.steps if progress.state[s] == "done")
        failed = any(v == "failed" for v in progress.state.values())
        self.bar.bar_style = "danger" if failed else (
            "success" if self.bar.value == len(progress.steps) else "info")


def _escape(text: Any) -> str:
    import html

    return html.escape(str(text))
