"""A drift report as one self-contained HTML page: inline SVG bars, no scripts, no assets.

Column names and category values are user data: every string from the report is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_WIDTH, _HEIGHT, _PAD = 480, 140, 4
_REFERENCE, _WINDOW = "#8aa4c8", "#e07b39"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
.column { border: 1px solid #ddd; border-radius: 6px; padding: 0.75rem 1rem; margin: 1rem 0; }
.drifted { border-color: #c0392b; }
.badge { font-weight: 600; padding: 0.1rem 0.5rem; border-radius: 4px; color: #fff; }
.badge.drift { background: #c0392b; } .badge.ok { background: #27ae60; }
.badge.insufficient, .badge.unjudged { background: #7f8c8d; }
.legend span { display: inline-block; width: 0.8rem; height: 0.8rem; margin: 0 0.3rem; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 0.6rem; text-align: left; }
"""


def render_html(report: dict[str, Any], *, title: str) -> str:
    """The page for a DriftReport's `to_dict()`: a summary, then one plot per column."""
    columns = list(report.get("columns", []))
    if report.get("prediction"):
        columns.append(report["prediction"])
    status = str(report.get("status", ""))
    summary = (f"<p><span class='badge {_css(status)}'>{escape(status)}</span> "
               f"{report.get('rows', 0)} rows in the window, {report.get('reference_rows', 0)} "
               f"in the reference; {len(report.get('drifted_columns', []))} of "
               f"{len(report.get('columns', []))} features drifted (dataset drift at "
               f"{_number(report.get('drift_share'))}: "
               f"{'yes' if report.get('dataset_drift') else 'no'}).</p>")
    legend = (f"<p class='legend'><span style='background:{_REFERENCE}'></span>reference"
              f"<span style='background:{_WINDOW}'></span>window (shares of rows)</p>")
    missing = report.get("not_compared") or []
    absent = (f"<p>Not in the window: {escape(', '.join(map(str, missing)))}</p>"
              if missing else "")
    body = "".join(_section(column) for column in columns)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1>{summary}{legend}{absent}{body}</body></html>")


def _section(column: dict[str, Any]) -> str:
    verdict = "unjudged" if column.get("score") is None else (
        "drift" if column.get("drifted") else "ok")
    p_value = column.get("p_value")
    rows = [("method", column.get("method")), ("score", _number(column.get("score"))),
            ("p-value", _number(p_value) if p_value is not None else "—"),
            ("threshold", _number(column.get("threshold"))), ("kind", column.get("kind"))]
    if column.get("note"):
        rows.append(("note", column["note"]))
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return (f"<section class='column{' drifted' if verdict == 'drift' else ''}'>"
            f"<h2>{escape(str(column.get('name')))} "
            f"<span class='badge {verdict}'>{'drifted' if verdict == 'drift' else verdict}"
            f"</span></h2>{_plot(column)}<table>{table}</table></section>")


def _plot(column: dict[str, Any]) -> str:
    reference, window = column.get("reference") or {}, column.get("window") or {}
    if "frequencies" in reference:
        names = list(dict.fromkeys([*reference["frequencies"], *window.get("frequencies", {})]))
        return _bars(names, [reference["frequencies"].get(n, 0) for n in names],
                     [window.get("frequencies", {}).get(n, 0) for n in names])
    edges = reference.get("edges") or []
    if len(edges) < 2:
        return ""
    names = [f"{_number(a)} – {_number(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return _bars(names, reference.get("counts", []), window.get("counts", []))


def _bars(names: list[str], reference: list[int], window: list[int]) -> str:
    """Side-by-side bars of each side's share per bin or value, titled with the name."""
    ref_total, win_total = sum(reference) or 1, sum(window) or 1
    shares = [(r / ref_total, w / win_total) for r, w in zip(reference, window, strict=False)]
    top = max((max(pair) for pair in shares), default=0.0) or 1.0
    slot = (_WIDTH - 2 * _PAD) / max(len(shares), 1)
    bars = []
    for i, (name, (ref, win)) in enumerate(zip(names, shares, strict=False)):
        x = _PAD + i * slot
        for offset, share, colour in ((0.0, ref, _REFERENCE), (slot / 2, win, _WINDOW)):
            height = share / top * (_HEIGHT - 2 * _PAD)
            bars.append(f"<rect x='{x + offset:.1f}' y='{_HEIGHT - _PAD - height:.1f}' "
                        f"width='{max(slot / 2 - 1, 0.5):.1f}' height='{height:.1f}' "
                        f"fill='{colour}'><title>{escape(name)}: {share:.1%}</title></rect>")
    label = ""
    if len(names) <= 12:  # categories: name each slot under the plot
        label = "".join(f"<text x='{_PAD + (i + 0.5) * slot:.1f}' y='{_HEIGHT + 12}' "
                        f"font-size='10' text-anchor='middle'>{escape(name[:14])}</text>"
                        for i, name in enumerate(names))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' "
            f"height='{_HEIGHT + (16 if label else 0)}' role='img'>"
            f"<line x1='0' y1='{_HEIGHT - _PAD}' x2='{_WIDTH}' y2='{_HEIGHT - _PAD}' "
            f"stroke='#999'/>{''.join(bars)}{label}</svg>")


def _number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _css(status: str) -> str:
    return status if status in ("drift", "ok", "insufficient") else "unjudged"
