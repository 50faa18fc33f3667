"""The desensitization report of a public-data release as an HTML page.

The report is the authorized-operation path's JSON (``report_version`` 1): the source (never
its contents), the rules applied per column, k-anonymity and what it suppressed, the row
counts. Keys this page does not know are shown as data under "Other facts", not dropped.
Everything goes through :mod:`dataspace.operations.html`, which escapes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dataspace.operations import html

KNOWN = frozenset({"source", "rules", "columns", "k_anonymity", "rows"})


def render(report: Mapping[str, Any], *, report_sha256: str, version: int | None = None) -> bytes:
    """The page of ``report``; ``version`` names the release when it is known."""
    product = str(report.get("product_id", ""))
    title = f"Desensitization report: {product}" + (f" v{version}" if version else "")
    body = [
        html.paragraph(f"Report SHA-256 (recorded in the evidence ledger): {report_sha256}"),
        html.heading("Rows"),
        _pairs(_mapping(report.get("rows"))),
        html.heading("Columns"),
        _columns(report.get("columns")),
        html.heading("k-anonymity"),
        _pairs(_mapping(report.get("k_anonymity"))),
        html.heading("Source (not its contents)"),
        _pairs(_mapping(report.get("source"))),
        html.heading("Rules"),
        _pairs(_mapping(report.get("rules"))),
        html.heading("Other facts"),
        _pairs({k: v for k, v in report.items() if k not in KNOWN}),
    ]
    return html.page(title, body)


def _columns(columns: Any) -> str:
    if not isinstance(columns, list):
        return html.paragraph("No columns were reported.", "muted")
    rows = []
    for item in columns:
        entry = _mapping(item)
        rest = {k: v for k, v in entry.items() if k not in {"column", "treatment", "into"}}
        into = entry.get("into")
        listed = ", ".join(map(str, into)) if isinstance(into, list) else _text(into)
        rows.append(
            (_text(entry.get("column")), _text(entry.get("treatment")), listed, _text(rest or None))
        )
    return html.table(("column", "treatment", "into", "details"), rows)


def _pairs(values: Mapping[str, Any]) -> str:
    if not values:
        return html.paragraph("Not reported.", "muted")
    return html.table(("fact", "value"), [(key, _text(value)) for key, value in values.items()])


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
