"""The evaluation report as one HTML page with inline SVG charts (no JavaScript, no CDN)."""

from __future__ import annotations

from dataspace.operations import html
from dataspace.operations.data_spaces import TIER_NAMES, TIERS
from dataspace.operations.evaluation import Evaluation

MIB = 1024 * 1024


def render_evaluation(evaluation: Evaluation) -> bytes:
    figures = evaluation
    parts = [
        html.paragraph(
            f"As of {figures.as_of}. Figures from the control plane of this node; "
            "the 123+ view from the configured list of data spaces.",
            "muted",
        ),
        html.heading("“123+” progress (数据空间“123+”目标进展)"),
        _spaces(figures),
        html.heading("Participants (接入主体数量)"),
        html.table(("admitted members", "data products"), [(figures.members, figures.products)]),
        html.bar_chart("Members by role", _bars(figures.by_role)),
        html.bar_chart("Members by region", _bars(figures.by_region)),
        html.bar_chart("Members by industry chain", _bars(figures.by_chain)),
        html.heading("Circulation (流通交易规模)"),
        html.table(
            ("agreements", "in force", "deliveries", "rows", "MiB"),
            [
                (
                    figures.agreements,
                    figures.agreements_in_force,
                    figures.deliveries,
                    figures.rows,
                    round(figures.bytes / MIB, 2),
                )
            ],
        ),
        html.column_chart("Deliveries per month", _per_month(figures, "deliveries")),
        html.column_chart("Rows delivered per month", _per_month(figures, "rows")),
        html.heading("Activity (生态活跃度)"),
        html.column_chart(
            "Active subscribers per month", _per_month(figures, "active_subscribers")
        ),
        html.column_chart("New data products per month", _per_month(figures, "new_products")),
        html.table(
            (
                "month",
                "deliveries",
                "rows",
                "MiB",
                "active subscribers",
                "new members",
                "new products",
                "new agreements",
            ),
            [
                (
                    m.month,
                    m.deliveries,
                    m.rows,
                    round(m.bytes / MIB, 2),
                    m.active_subscribers,
                    m.new_members,
                    m.new_products,
                    m.new_agreements,
                )
                for m in figures.months
            ],
        ),
    ]
    return html.page(f"Data space evaluation report {figures.as_of}", parts)


def _spaces(figures: Evaluation) -> str:
    rows = [
        (f"{TIER_NAMES[tier]} ({tier})", figures.spaces[tier], figures.targets[tier],
         _reached(figures.spaces[tier], figures.targets[tier]))
        for tier in TIERS
    ]  # fmt: skip
    chart = html.bar_chart(
        f"Data spaces by tier in {figures.spaces_year} "
        f"(red tick: the target for {figures.target_year})",
        [(TIER_NAMES[tier], float(figures.spaces[tier])) for tier in TIERS],
        targets=[float(figures.targets[tier]) for tier in TIERS],
    )
    by_city = html.bar_chart("Data spaces by city", _bars(figures.spaces_by_city))
    table = html.table(("tier", "recognised", f"target {figures.target_year}", "reached"), rows)
    return table + chart + by_city


def _reached(count: int, target: int) -> str:
    return f"{100 * count / target:.0f} %" if target else ""


def _bars(counts: dict[str, int]) -> list[tuple[str, float]]:
    return [(label, float(count)) for label, count in counts.items()]


def _per_month(figures: Evaluation, field: str) -> list[tuple[str, float]]:
    return [(m.month[2:], float(getattr(m, field))) for m in figures.months]
