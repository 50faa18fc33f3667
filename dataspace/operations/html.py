"""Small, dependency-free HTML for the operator's reports: a page, tables and SVG charts.

Everything interpolated is escaped here, so a product title or participant name cannot inject
markup into a report. The output is deterministic for the same input (no clock, no random ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

STYLE = """
body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2rem;color:#1d2733;max-width:70rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.25rem .6rem;
text-align:left;font-size:.9rem}th{background:#f3f5f7}td.num{text-align:right}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;color:#fff}
.badge.ok{background:#1a7f37}.badge.bad{background:#cf222e}.badge.warn{background:#9a6700}
svg text{font-size:11px;fill:#1d2733}
"""
Cell = str | int | float | None
BAR_COLOR = "#0969da"
TARGET_COLOR = "#cf222e"


def page(title: str, body: Sequence[str]) -> bytes:
    """A complete UTF-8 HTML document; ``body`` parts are already-built HTML."""
    head = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
    )
    return (head + f"<h1>{escape(title)}</h1>" + "\n".join(body) + "</body></html>\n").encode()


def heading(text: str) -> str:
    return f"<h2>{escape(text)}</h2>"


def paragraph(text: str, css: str = "") -> str:
    klass = f' class="{escape(css)}"' if css else ""
    return f"<p{klass}>{escape(text)}</p>"


def badge(text: str, kind: str) -> str:
    """A coloured label; ``kind`` is ok, bad or warn."""
    return f'<span class="badge {escape(kind)}">{escape(text)}</span>'


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Cell) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
        return f'<td class="num">{text}</td>'
    return f"<td>{escape(value)}</td>"


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    targets: Sequence[float | None] = (),
    width: int = 560,
) -> str:
    """Horizontal bars with labels and values; an optional target tick per bar."""
    row, label_width, pad = 22, 170, 60
    height = row * max(len(bars), 1) + 30
    peak = max([value for _, value in bars] + [t for t in targets if t is not None] + [1.0])
    scale = (width - label_width - pad) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-weight="600">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(bars):
        y = 24 + index * row
        length = max(value * scale, 0.0)
        parts.append(f'<text x="0" y="{y + 13}">{escape(_short(label))}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{row - 6}" '
            f'fill="{BAR_COLOR}"/>'
        )
        parts.append(
            f'<text x="{label_width + length + 4:.1f}" y="{y + 13}">{_number(value)}</text>'
        )
        target = targets[index] if index < len(targets) else None
        if target is not None:
            x = label_width + target * scale
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + row - 4}" '
                f'stroke="{TARGET_COLOR}" stroke-width="2"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    title: str, columns: Sequence[tuple[str, float]], *, width: int = 640, height: int = 200
) -> str:
    """Vertical columns over time (one per label, e.g. a month), values on top."""
    top, bottom = 24, 30
    count = max(len(columns), 1)
    slot = (width - 20) / count
    peak = max([value for _, value in columns] + [1.0])
    scale = (height - top - bottom) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-weight="600">{escape(title)}</text>',
    ]
    base = height - bottom
    for index, (label, value) in enumerate(columns):
        x = 10 + index * slot
        tall = value * scale
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{base - tall:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{tall:.1f}" fill="{BAR_COLOR}"/>'
        )
        middle = x + slot / 2
        parts.append(
            f'<text x="{middle:.1f}" y="{base - tall - 3:.1f}" text-anchor="middle">'
            f"{_number(value)}</text>"
        )
        parts.append(
            f'<text x="{middle:.1f}" y="{base + 14}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"
