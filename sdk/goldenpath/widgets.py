"""A notebook widget table of your deployments with Promote / Rollback buttons (ipywidgets).

    import goldenpath as gp
    gp.panel()                    # every service the configured server knows
    gp.panel(environments=["dev", "prod"])

Built on the SDK's public API only (gp.list, gp.get(...).promote / rollback), so it talks to
the server configured in the kernel (gp.configure / GOLDENPATH_SERVER). Needs ipywidgets
(`pip install "goldenpath[notebook]"`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from goldenpath.errors import ConfigurationError
from goldenpath_api.rules import DEFAULT_ENVIRONMENTS, FAILED, LIVE, ROLLING_OUT

__all__ = ["DeploymentsTable", "next_environment"]

_COLORS = {LIVE: "#1a7f37", FAILED: "#cf222e", ROLLING_OUT: "#0969da"}


def next_environment(env: str, order: Sequence[str] = DEFAULT_ENVIRONMENTS) -> str:
    """The environment after `env` on the promotion path, or "" at its end."""
    return order[order.index(env) + 1] if env in order[:-1] else ""


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        raise ConfigurationError("gp.panel() needs ipywidgets in the kernel's environment",
                                 'pip install "goldenpath[notebook]" (or pip install '
                                 "ipywidgets), then restart the kernel") from None
    return ipywidgets


class DeploymentsTable:
    """One row per (service, environment): version, status, endpoint, actions.

    `sdk` is the goldenpath module (gp.panel() passes it: this module does not import the
    facade, which imports it) or anything with its list() and get(); tests pass a stand-in
    server that fails."""

    def __init__(self, sdk: Any, environments: Sequence[str] = DEFAULT_ENVIRONMENTS) -> None:
        widgets = _ipywidgets()
        self.sdk = sdk
        self.environments = tuple(environments)
        self._w = widgets
        self.rows = widgets.VBox()
        self.message = widgets.HTML()
        refresh = widgets.Button(description="Refresh", icon="refresh",
                                 layout=widgets.Layout(width="auto"))
        refresh.on_click(lambda _: self.refresh())
        self.widget = widgets.VBox([widgets.HBox([widgets.HTML("<b>Deployments</b>"), refresh]),
                                    self.rows, self.message])
        self.buttons: dict[tuple[str, str, str], Any] = {}
        self.refresh()

    def refresh(self) -> None:
        """Reload from the server; errors show under the table with their hint."""
        try:
            services = self.sdk.list()
        except Exception as exc:  # noqa: BLE001 - shown to the user, not swallowed
            self._say(exc)
            return
        self.buttons.clear()
        rows = [self._row(s["name"], d) for s in services for d in self._ordered(s)]
        self.rows.children = rows or [self._w.HTML(
            "<i>No deployments yet: gp.deploy(model, name=..., sample=X[:5])</i>")]

    def _ordered(self, service: dict[str, Any]) -> list[dict[str, Any]]:
        order = {e: i for i, e in enumerate(self.environments)}
        return sorted(service["deployments"], key=lambda d: order.get(d["environment"], 99))

    def _row(self, name: str, dep: dict[str, Any]) -> Any:
        w = self._w
        env, status = dep["environment"], dep["status"]
        color = _COLORS.get(status, "#9a6700")
        cells = [w.HTML(f"<b>{html.escape(name)}</b> · {html.escape(env)} · "
                        f"v{dep['release_version']} · <span style='color:{color}'>"
                        f"{html.escape(status.replace('_', ' '))}</span> · "
                        f"<a href='{html.escape(dep['url'])}' target='_blank'>"
                        f"{html.escape(dep['url'])}</a>")]
        target = next_environment(env, self.environments)
        if target and status == LIVE:
            cells.append(self._button(f"Promote to {target}", (name, env, "promote"),
                                      lambda: self.sdk.get(name, env).promote(target, wait=False)))
        if dep.get("previous_release_id"):
            cells.append(self._button("Rollback", (name, env, "rollback"),
                                      lambda: self.sdk.get(name, env).rollback(wait=False)))
        return w.HBox(cells)

    def _button(self, label: str, key: tuple[str, str, str], action: Callable[[], Any]) -> Any:
        button = self._w.Button(description=label, layout=self._w.Layout(width="auto"))

        def clicked(_: Any) -> None:
            try:
                action()
                self.message.value = f"{html.escape(label)}: started"
            except Exception as exc:  # noqa: BLE001 - shown to the user with its hint
                self._say(exc)
                return
            self.refresh()

        button.on_click(clicked)
        self.buttons[key] = button
        return button

    def _say(self, exc: Exception) -> None:
        message = getattr(exc, "message", str(exc))
        hint = getattr(exc, "hint", "")
        self.message.value = (f"<span style='color:#cf222e'>{html.escape(message)}</span>"
                              + (f"<br><i>{html.escape(hint)}</i>" if hint else ""))
