"""The desensitization report of one public-data release: what was done to which column, what
k-anonymity removed, and where the data came from (never the data itself).

It is stored beside the release (``<product>/<version>/desensitization-report.json``) and its
SHA-256 is sealed in the ledger (:mod:`dataspace.controlplane.public_releases`), so the
authority, the operator and the licensed operators read the same document the ledger vouches
for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dataspace.canonical import utc_iso
from dataspace.desensitize.pipeline import DesensitizationReport
from dataspace.desensitize.rules import Rules

REPORT_VERSION = 1
PSEUDONYM_METHOD = "HMAC-SHA256 under the product's pseudonym key (first 128 bits, ent- prefix)"


def column_treatments(rules: Rules, source_columns: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per source column, in the source's order: dropped, pseudonymized,
    generalized (into which columns, at which level) or kept as it is."""
    special: dict[str, dict[str, Any]] = {
        rules.pseudonym_source: {"treatment": "pseudonymized", "into": [rules.pseudonym_column],
                                 "method": PSEUDONYM_METHOD},
        rules.address_column: {"treatment": "generalized", "into": list(rules.area_columns),
                               "level": rules.address_level},
        rules.time_column: {"treatment": "generalized", "into": [rules.period_column],
                            "level": rules.time_level},
    }  # fmt: skip
    special |= {column: {"treatment": "dropped"} for column in rules.drop}
    return [
        {"column": column, **special.get(column, {"treatment": "kept"})}
        for column in source_columns
    ]


def build_report(
    *,
    plan: dict[str, Any],
    source: dict[str, Any],
    rules: Rules,
    rules_file: dict[str, str],
    source_columns: Sequence[str],
    outcome: DesensitizationReport,
    desensitized_sha256: str,
    now: datetime,
) -> dict[str, Any]:
    """The report as JSON-ready values (see the module doc and docs/adr/0009)."""
    return {
        "report_version": REPORT_VERSION,
        "product_id": plan["product"],
        "application_id": plan["application"],
        "authority": plan["authority"],
        "operator": plan["operator"],
        "source": source,
        "rules": rules_file,
        "columns": column_treatments(rules, source_columns),
        "k_anonymity": {
            "k": outcome.k,
            "quasi_identifiers": list(rules.quasi_identifiers),
            "entity": rules.pseudonym_column,
            "groups": outcome.groups,
            "suppressed_groups": outcome.suppressed_groups,
            "suppressed_rows": outcome.suppressed_rows,
            "max_suppressed_fraction": rules.max_suppressed_fraction,
            "smallest_class": outcome.smallest_group,
        },
        "rows": {"input": outcome.rows_in, "output": outcome.rows_out},
        "desensitized_sha256": desensitized_sha256,
        "created_at": utc_iso(now),
    }
