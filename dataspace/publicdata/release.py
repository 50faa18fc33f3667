"""Releasing public data to licensed operators (公共数据授权运营), as named steps.

The ``public_data_authorized_release`` DAG calls these in order; each takes the node and
plain values (ids, paths, the source's connection facts) and leaves a signed ledger entry by
the product's authority:

1. :func:`authorize`: the run's configuration names only known keys and a well-formed source;
   the scenario application is approved and in its term (``public_release.authorized``);
   otherwise the release stops;
2. :func:`ingest_and_desensitize`: the authority's extract is read from its own store (an
   object in its bucket, or a table or query in its database,
   :mod:`dataspace.publicdata.sources`) into a private staging file
   (``public_release.ingested``: the source, rows and SHA-256, never the contents); the
   product's rules (``schemas/desensitization/<schema>.json``) are applied with the product's
   pseudonym key; a k-anonymity violation stops the release. The raw file exists only inside
   this step (:mod:`dataspace.publicdata.staging`). The desensitization report is recorded
   (``public_release.desensitized``, :mod:`dataspace.controlplane.public_releases`), which is
   the authorization the core asks of any release of public data;
3. :func:`check_licences`: every agreement in force on the product is backed by an approved
   application in its term, so only licensed operators receive it;
4. :func:`release`: the desensitized file goes through the delivery pipeline
   (:func:`dataspace.publishing.publish.publish`) with that authorization: the expectation
   suite gates it, the release and its report are written once and every licensed operator
   gets its delivery.

A step that refuses records ``public_release.stopped`` with the reason and raises
:class:`~dataspace.errors.Refused` (or InvalidInput for a malformed request); nothing after it
runs and nothing is published.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataspace import faults
from dataspace.controlplane import agreements, applications
from dataspace.controlplane.catalog import show_product
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key
from dataspace.controlplane.read_models import ProductView
from dataspace.errors import InvalidInput, Refused
from dataspace.node import Node
from dataspace.publicdata.sources import ConnectionFacts, SourceRequest, parse_source
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

# What a run's configuration may hold; anything else is refused, never ignored.
CONF_KEYS = ("application", "source")
STAGED_POINT = "public_release.staged"  # fault point: the raw extract is staged, not yet used


def check_conf(conf: Mapping[str, Any]) -> SourceRequest:
    """The run's source, if the configuration names only known keys; InvalidInput otherwise."""
    unknown = sorted(set(conf) - set(CONF_KEYS))
    if unknown:
        raise InvalidInput(
            f"The run's configuration has unknown keys {', '.join(unknown)}; give only "
            f"{' and '.join(CONF_KEYS)} (the source names the authority's own data)."
        )
    if conf.get("source") is None:
        raise InvalidInput(
            'The run names no source; add "source": {"connection": …, "object": …} (or '
            '"table" or "query") for the authority\'s own data.'
        )
    return parse_source(conf["source"])


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
    return {"application": application, "product": view.product_id, "authority": owner,
            "operator": view.applicant}  # fmt: skip


def ingest_and_desensitize(
    node: Node,
    plan: dict[str, Any],
    request: SourceRequest,
    connection: ConnectionFacts,
    directory: Path,
) -> dict[str, Any]:
    """Stage the authority's extract, desensitize it into ``directory``, record the report;
    return the authorization the release needs (see the module doc)."""
    from dataspace.publicdata.desensitization import desensitize_staged  # noqa: PLC0415
    from dataspace.publicdata.sources import open_source, stage  # noqa: PLC0415
    from dataspace.publicdata.staging import raw_extract  # noqa: PLC0415

    product = _product(node, plan["product"])
    work = desensitize_staged(node, product)
    target = directory / "desensitized.parquet"
    with raw_extract(directory) as raw:
        try:
            staged = stage(open_source(request, connection), raw, work.input_schema)
        except (InvalidInput, Refused) as refusal:
            stop(node, product.owner, product.product_id, plan["application"], "ingest",
                 str(refusal))  # fmt: skip
            raise
        facts = {"source": staged.source, "rows": staged.rows, "sha256": staged.sha256}
        _evidence(node, product.owner, "public_release.ingested",
                  (plan["application"], product.product_id), facts)  # fmt: skip
        faults.reach(STAGED_POINT)
        try:
            report = work.run(plan, staged, target)
        except Refused as refusal:
            stop(node, product.owner, product.product_id, plan["application"], "desensitize",
                 str(refusal))  # fmt: skip
            raise
    return _record_report(node, plan, report, target)


def _record_report(
    node: Node, plan: dict[str, Any], report: dict[str, Any], target: Path
) -> dict[str, Any]:
    from dataspace.controlplane import public_releases  # noqa: PLC0415

    authorization = public_releases.record_desensitization(
        node.db, node.keys, application=plan["application"], report=report,
        desensitized_sha256=report["desensitized_sha256"],
    )  # fmt: skip
    log.info("desensitized", extra={"product": plan["product"], **report["rows"]})
    return {
        "desensitization_id": authorization.desensitization_id,
        "desensitized_sha256": authorization.desensitized_sha256,
        "path": str(target),
    }


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


def release(node: Node, plan: dict[str, Any], authorized: dict[str, Any]) -> dict[str, Any]:
    """Publish through the delivery pipeline (quality gate, write once, deliveries, events)."""
    from dataspace.controlplane.public_releases import PublicReleaseAuthorization  # noqa: PLC0415
    from dataspace.publishing.publish import publish  # noqa: PLC0415

    authorization = PublicReleaseAuthorization(
        authorized["desensitization_id"], authorized["desensitized_sha256"]
    )
    summary = publish(
        node, product_id=plan["product"], provider=plan["authority"],
        source=Path(authorized["path"]), authorization=authorization,
    )  # fmt: skip
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
