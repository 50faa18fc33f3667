"""The quality check's HTML report: verdict, score, freshness and every expectation's result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from dataspace.canonical import utc_iso
from dataspace.operations import html

if TYPE_CHECKING:
    from dataspace.operations.freshness import Freshness
    from dataspace.quality.gate import QualityReport


@dataclass(frozen=True)
class ReleaseCheck:
    """The newest accepted release as found in the store and re-validated: what the report
    shows of it (the check in :mod:`dataspace.operations.quality` makes one)."""

    version: int
    rows: int
    sha256: str
    intact: bool
    report: QualityReport


def render_quality_report(  # noqa: PLR0917 (the report's parts, in reading order)
    product: str,
    title: str,
    checked_at: datetime,
    fresh: Freshness,
    checked: ReleaseCheck | None,
    score: float | None,
) -> bytes:
    parts = [
        html.paragraph(f"{product} — {title}; checked {utc_iso(checked_at)}", "muted"),
        _verdict(fresh, checked, score),
        html.heading("Freshness"),
        html.table(
            ("cadence", "since", "age (h)", "limit (h)", "fresh"),
            [
                (
                    fresh.cadence,
                    utc_iso(fresh.since),
                    fresh.age_hours,
                    fresh.limit_hours,
                    fresh.fresh,
                )
            ],
        ),
    ]
    if checked is None:
        parts.append(html.paragraph("The product has no accepted release to validate yet."))
    else:
        parts += _release_sections(checked)
    return html.page(f"Quality check: {product}", parts)


def _verdict(fresh: Freshness, checked: ReleaseCheck | None, score: float | None) -> str:
    badges = []
    if checked is not None:
        passed = checked.report.passed and checked.intact
        badges.append(
            html.badge("suite met" if passed else "suite FAILED", "ok" if passed else "bad")
        )
    badges.append(html.badge("fresh" if fresh.fresh else "STALE", "ok" if fresh.fresh else "warn"))
    shown = "no score (no release)" if score is None else f"quality score {score:g} / 100"
    return f"<p>{' '.join(badges)} <strong>{escape(shown)}</strong></p>"


def _release_sections(checked: ReleaseCheck) -> list[str]:
    stats = checked.report.statistics
    results: list[dict[str, Any]] = checked.report.report_json["results"]
    return [
        html.heading(f"Release version {checked.version}"),
        html.table(
            ("rows", "SHA-256", "object intact", "expectations met", "chunks"),
            [
                (
                    checked.rows,
                    checked.sha256,
                    checked.intact,
                    f"{stats['successful_expectations']} of {stats['evaluated_expectations']}",
                    stats["chunks"],
                )
            ],
        ),
        html.bar_chart(
            "Expectations met vs failed",
            [
                ("met", float(stats["successful_expectations"])),
                ("failed", float(stats["unsuccessful_expectations"])),
            ],
        ),
        html.heading("Expectations"),
        html.table(
            ("expectation", "column", "how checked", "result", "observed / unexpected"),
            [_result_row(item) for item in results],
        ),
    ]


def _result_row(item: dict[str, Any]) -> tuple[str, str, str, str, str]:
    result = item.get("result") or {}
    observed = item.get("exception") or result.get("unexpected_count", result.get("observed_value"))
    return (
        str(item["type"]),
        str(item["kwargs"].get("column", "")),
        str(item.get("checked", "")),
        "met" if item["success"] else "FAILED",
        "" if observed is None else str(observed),
    )
