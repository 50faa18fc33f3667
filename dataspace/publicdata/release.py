"""Releasing public data to licensed operators (公共数据授权运营), as named steps.

The ``public_data_authorized_release`` DAG calls these in order; each takes the node and
plain values (paths, ids) and leaves a signed ledger entry by the product's authority:

1. :func:`authorize`: the scenario application is approved and in its term
   (``public_release.authorized``); otherwise the release stops;
2. :func:`ingest`: the authority's source extract is staged as Parquet, its SHA-256 and row
   count recorded (``public_release.ingested``);
3. :func:`desensitize`: the product's rules (``schemas/desensitization/<schema>.json``) are
   applied with the product's pseudonym key from the key store; a k-anonymity violation stops
   the release (``public_release.desensitized``);
4. :func:`check_licences`: every agreement in force on the product is backed by an approved
   application in its term, so only licensed operators receive it;
5. :func:`release`: the desensitized file goes through the delivery pipeline
   (:func:`dataspace.publishing.publish.publish`): the expectation suite gates it, the release
   is written once and every licensed operator gets its delivery.

A step that refuses records ``public_release.stopped`` with the reason and raises
:class:`~dataspace.errors.Refused`; nothing after it runs and nothing is published.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from dataspace.canonical import file_sha256
from dataspace.controlplane import agreements, applications
from dataspace.controlplane.catalog import show_product
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key
from dataspace.controlplane.read_models import ProductView
from dataspace.errors import Refused
from dataspace.node import Node
from dataspace.private_paths import private_directory
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)


def staging_dir(node: Node, application: str, run: str) -> Path:
    """Where one run keeps its files: under the node's state directory, per application and run."""
    safe_run = hashlib.sha256(run.encode()).hexdigest()[:16]
    return node.settings.state_dir / "staging" / "public-release" / application / safe_run


def authorize(node: Node, application: str) -> dict[str, Any]:
    """The approved application, as plain values for the next steps; Refused otherwise."""
    now = utcnow()
    try:
        view = applications.require_approved(node.db, application, now)
    except Refused as refusal:
        found = applications.show(node.db, application)
        owner = _product(node, found.product_id).owner
        stop(node, owner, found.product_id, application, "authorize", str(refusal))
        raise
    owner = _product(node, view.product_id).owner
    facts = {"scenario": view.scenario, "purpose": view.purpose, "tier": view.tier,
             "agreement_id": view.agreement_id}  # fmt: skip
    _evidence(node, owner, "public_release.authorized", (application, view.product_id), facts)
    return {"application": application, "product": view.product_id, "authority": owner}


def ingest(node: Node, plan: dict[str, Any], target: Path, enterprises: int | None) -> str:
    """Stage the source extract as Parquet at ``target``; return its path."""
    import pyarrow.parquet as pq  # noqa: PLC0415 (tasks import heavy modules when they run)

    from dataspace.publicdata.dataset import monthly_readings  # noqa: PLC0415

    table = monthly_readings(enterprises)
    private_directory(target.parent)
    pq.write_table(table, target, compression="zstd")
    facts = {"rows": table.num_rows, "sha256": file_sha256(target), "source": "dataset-2025"}
    subjects = (plan["application"], plan["product"])
    _evidence(node, plan["authority"], "public_release.ingested", subjects, facts)
    return str(target)


def desensitize(node: Node, plan: dict[str, Any], source: Path, target: Path) -> str:
    """Apply the product's rules to ``source``; write ``target``; Refused on a violation."""
    from dataspace.dataplane.schema_check import arrow_schema, load_avro_schema  # noqa: PLC0415
    from dataspace.desensitize.pipeline import desensitize_file  # noqa: PLC0415
    from dataspace.desensitize.rules import load_rules  # noqa: PLC0415

    product = _product(node, plan["product"])
    rules = load_rules(
        node.settings.schemas_dir / "desensitization" / f"{product.schema_name}.json"
    )
    schema_path = node.settings.schemas_dir / "products" / f"{product.schema_name}.avsc"
    schema = arrow_schema(load_avro_schema(schema_path))
    subjects = (plan["application"], plan["product"])
    try:
        report = desensitize_file(
            source, target, rules, node.keys.pseudonym_key(product.product_id), schema
        )
    except Refused as refusal:
        stop(node, product.owner, product.product_id, plan["application"],
             "desensitize", str(refusal))  # fmt: skip
        raise
    facts = {**rules.facts(), **report.facts(), "sha256": file_sha256(target)}
    _evidence(node, product.owner, "public_release.desensitized", subjects, facts)
    log.info("desensitized", extra={"product": plan["product"], **report.facts()})
    return str(target)


def check_licences(node: Node, plan: dict[str, Any]) -> list[str]:
    """The licensed agreements; Refused if an agreement in force has no approved application."""
    now = utcnow()
    licensed = applications.licensed_agreements(node.db, plan["product"], now)
    in_force = [
        s.agreement.agreement_id
        for s in agreements.standings(node.db, node.keys, plan["product"], now=now)
        if s.refusal is None
    ]
    unlicensed = sorted(set(in_force) - set(licensed))
    if unlicensed:
        reason = (
            f"The agreements {', '.join(unlicensed)} on {plan['product']} are in force but "
            "no approved scenario application licenses them; revoke them or approve an "
            "application before releasing."
        )
        stop(node, plan["authority"], plan["product"], plan["application"], "licences", reason)
        raise Refused(reason)
    return sorted(licensed)


def release(node: Node, plan: dict[str, Any], desensitized: Path) -> dict[str, Any]:
    """Publish through the delivery pipeline (quality gate, write once, deliveries, events)."""
    from dataspace.publishing.publish import publish  # noqa: PLC0415

    summary = publish(
        node, product_id=plan["product"], provider=plan["authority"], source=desensitized
    )
    result = {
        "product": summary.product_id,
        "version": summary.version,
        "status": summary.status,
        "rows": summary.rows,
        "delivered_to": sorted(line.subscriber for line in summary.delivered),
        "events_pending": summary.events_pending,
    }
    if summary.status != "accepted":
        raise Refused(
            f"Release {summary.version} of {summary.product_id} failed its expectation suite "
            f"({summary.quality}) and is quarantined; its report is {summary.report_key}."
        )
    return result


def stop(  # noqa: PLR0917 (the evidence of a stop names who, what, which application, where, why)
    node: Node, authority: str, product: str, application: str, step: str, reason: str
) -> None:
    """Record that the release stopped at ``step`` and why."""
    facts = {"step": step, "reason": reason}
    _evidence(node, authority, "public_release.stopped", (application, product), facts)
    log.warning("public release stopped", extra={"product": product, "step": step})


def _evidence(
    node: Node, actor: str, action: str, subjects: tuple[str, ...], facts: dict[str, Any]
) -> None:
    with node.db.transaction() as session:
        key = party_signing_key(session, node.keys, actor)
        record(session, key, Change(actor, action, subjects, facts), utcnow())


def _product(node: Node, product: str) -> ProductView:
    return show_product(node.db, product)
