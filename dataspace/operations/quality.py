"""The scheduled quality check: re-validate every product's newest release, check freshness.

For each product (or the ones named), :func:`check_products`

1. takes its newest **accepted** release and streams the stored object through the same gate
   that admitted it (:func:`dataspace.quality.gate.validate`, batch by batch, bounded memory),
   after checking that the stored bytes still have the release's SHA-256;
2. checks **freshness** against the product's cadence (:mod:`dataspace.operations.freshness`);
3. scores it: the percentage of checks met, the checks being the suite's expectations, the
   object's integrity and freshness (a product without a release has no score);
4. stores a human-readable HTML report next to the release
   (``<product>/<version>/quality-check-<date>.html``; ``<product>/quality-check-<date>.html``
   before the first release) in the release bucket;
5. records, in one transaction, the score, time and report key on the product, a
   ``quality.checked`` ledger entry signed by the operator, and one ``quality.alerted`` entry
   with a signed QualityAlert event in the outbox (keyed by the provider) per problem: a
   failing suite or altered object is ``critical``, a stale product ``warning``.

Event ids derive from product, version, check and the check's date: re-running a day's check
sends the same alerts again under the same ids (consumers drop them), while the ledger keeps
every run. Sending the outbox is the relay's job (the DAG and the CLI relay once after).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from dataspace.config import Settings
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import OPERATOR_ID, operator_signing_key
from dataspace.dataplane.objects import ObjectStore
from dataspace.identity.keystore import KeyStore
from dataspace.ids import product_id as valid_product_id
from dataspace.operations.freshness import DEFAULT_TOLERANCE, Freshness, freshness
from dataspace.operations.quality_report import ReleaseCheck, render_quality_report
from dataspace.quality.gate import validate
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import ProductRow, ReleaseRow
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

BATCH_ROWS = 64 * 1024
HASH_CHUNK = 4 * 1024 * 1024
CHECKED_ACTION = "quality.checked"
ALERT_ACTION = "quality.alerted"


@dataclass(frozen=True)
class Alert:
    severity: str  # info | warning | critical (the QualityAlert enum)
    check: str
    message: str
    observed: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class ProductCheck:
    product_id: str
    provider: str
    title: str
    checked_at: datetime
    freshness: Freshness
    release: ReleaseCheck | None
    score: float | None
    report_key: str
    report_sha256: str
    alerts: tuple[Alert, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        """ok, stale, failing or failing+stale (what the CLI and the DAG log print)."""
        failing = self.release is not None and not (
            self.release.report.passed and self.release.intact
        )
        parts = (["failing"] if failing else []) + ([] if self.freshness.fresh else ["stale"])
        return "+".join(parts) or "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "product": self.product_id,
            "provider": self.provider,
            "version": None if self.release is None else self.release.version,
            "status": self.status,
            "score": self.score,
            "fresh": self.freshness.fresh,
            "freshness": self.freshness.describe(),
            "report_key": self.report_key,
            "alerts": [alert.__dict__ for alert in self.alerts],
        }


def check_products(
    settings: Settings,
    db: Database,
    keys: KeyStore,
    store: ObjectStore,
    *,
    products: Sequence[str] = (),
    tolerance: float = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> list[ProductCheck]:
    """Check the named products (all, if none are named), recording each as it is done."""
    now = now or utcnow()
    with db.transaction() as session:
        operator_signing_key(session, keys)  # the operator signs the evidence: fail early
        if products:
            ids = [repository.get_product(session, valid_product_id(p)).id for p in products]
        else:
            ids = list(session.scalars(select(ProductRow.id).order_by(ProductRow.id)))
    return [_check_one(settings, db, keys, store, pid, tolerance, now) for pid in ids]


def _check_one(  # noqa: PLR0917 (one step of check_products, arguments in its order)
    settings: Settings,
    db: Database,
    keys: KeyStore,
    store: ObjectStore,
    product: str,
    tolerance: float,
    now: datetime,
) -> ProductCheck:
    with db.transaction() as session:
        row = repository.get_product(session, product)
        latest = _latest_release(session, product)
        facts = _ProductFacts(row.id, row.owner_id, row.title_zh, row.cadence, row.suite_name)
        since = row.created_at if latest is None else latest.created_at
        release = None if latest is None else (latest.version, latest.object_key, latest.sha256)
    fresh = freshness(
        facts.cadence, since, now, has_release=latest is not None, tolerance=tolerance
    )
    checked = None
    if release is not None:
        suite = settings.expectations_dir / f"{facts.suite}.json"
        checked = revalidate(store, *release, suite_path=suite)
    alerts = tuple(_alerts(checked, fresh))
    score = _score(checked, fresh)
    key = report_key_for(product, None if checked is None else checked.version, now.date())
    document = render_quality_report(facts.product, facts.title, now, fresh, checked, score)
    stored = store.put(key, document)
    result = ProductCheck(
        facts.product, facts.provider, facts.title, now, fresh, checked, score, key,
        stored.sha256, alerts,
    )  # fmt: skip
    _record(db, keys, result)
    log.info(
        "quality checked: product=%s version=%s status=%s score=%s report=%s",
        product, None if checked is None else checked.version, result.status, score, key,
    )  # fmt: skip
    return result


@dataclass(frozen=True)
class _ProductFacts:
    product: str
    provider: str
    title: str
    cadence: str
    suite: str


def revalidate(
    store: ObjectStore, version: int, key: str, sha256: str, *, suite_path: Any
) -> ReleaseCheck:
    """Hash the stored release, then stream it through the gate in batches."""
    # Heavy (pyarrow): imported by the task that needs it.
    from dataspace.dataplane.parquet_io import open_parquet, read_batches  # noqa: PLC0415

    intact = _sha256_of(store, key) == sha256
    with store.open_input(key) as source:
        parquet = open_parquet(source)
        rows = int(parquet.metadata.num_rows)
        report = validate(read_batches(parquet, batch_rows=BATCH_ROWS), suite_path)
    return ReleaseCheck(version, rows, sha256, intact, report)


def report_key_for(product: str, version: int | None, day: date) -> str:
    """Next to the release it is about: ``<product>/<version>/quality-check-<date>.html``."""
    where = valid_product_id(product) if version is None else f"{product}/{version}"
    return f"{where}/quality-check-{day.isoformat()}.html"


def _sha256_of(store: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open_input(key) as source:
        for chunk in _chunks(source):
            digest.update(chunk)
    return digest.hexdigest()


def _chunks(source: Any) -> Iterator[bytes]:
    while chunk := source.read(HASH_CHUNK):
        yield chunk


def _latest_release(session: Any, product: str) -> ReleaseRow | None:
    query = (
        select(ReleaseRow)
        .where(ReleaseRow.product_id == product, ReleaseRow.status == "accepted")
        .order_by(ReleaseRow.version.desc())
        .limit(1)
    )
    return session.scalars(query).first()  # type: ignore[no-any-return]


def _score(checked: ReleaseCheck | None, fresh: Freshness) -> float | None:
    """Percentage of checks met: the suite's expectations, integrity and freshness."""
    if checked is None:
        return None
    stats = checked.report.statistics
    met = int(stats["successful_expectations"]) + int(checked.intact) + int(fresh.fresh)
    total = int(stats["evaluated_expectations"]) + 2
    return round(100.0 * met / total, 1)


def _alerts(checked: ReleaseCheck | None, fresh: Freshness) -> Iterator[Alert]:
    if checked is not None and not checked.intact:
        yield Alert(
            "critical",
            "object_integrity",
            f"The stored object of version {checked.version} no longer has the release's SHA-256.",
        )
    if checked is not None and not checked.report.passed:
        stats = checked.report.statistics
        failed = [
            f"{item.type}({item.column})" if item.column else item.type
            for item in checked.report.failed_expectations
        ]
        yield Alert(
            "critical",
            "expectation_suite",
            f"Version {checked.version} fails {', '.join(failed)}.",
            observed=float(stats["success_percent"]),
            threshold=100.0,
        )
    if not fresh.fresh:
        yield Alert("warning", "freshness", fresh.describe(), fresh.age_hours, fresh.limit_hours)


def _record(db: Database, keys: KeyStore, result: ProductCheck) -> None:
    version = None if result.release is None else result.release.version
    day = result.checked_at.date().isoformat()
    with db.transaction() as session:
        row = repository.get_product(session, result.product_id, for_update=True)
        row.quality_score = result.score
        row.quality_checked_at = result.checked_at
        row.quality_report_key = result.report_key
        key = operator_signing_key(session, keys)
        facts = {
            **result.to_json(),
            "reportSha256": result.report_sha256,
            "checkedAt": result.checked_at.isoformat(),
        }
        subjects = (result.product_id, result.provider)
        record(
            session, key, Change(OPERATOR_ID, CHECKED_ACTION, subjects, facts), result.checked_at
        )
        for alert in result.alerts:
            body = {
                "provider_id": result.provider,
                "product_id": result.product_id,
                "version": version,
                "severity": alert.severity,
                "check": alert.check,
                "message": alert.message,
                "observed_value": alert.observed,
                "threshold": alert.threshold,
            }
            change = Change(
                OPERATOR_ID,
                ALERT_ACTION,
                subjects,
                {**body, "reportKey": result.report_key},
                about=result.provider,
                event="QualityAlert",
                event_body=body,
                event_coordinates=(result.product_id, version or 0, alert.check, day),
            )
            record(session, key, change, result.checked_at)
