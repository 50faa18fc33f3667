"""Public data is released only through the authorized-operation path, with its report.

A product whose owner holds the ``public_data_authority`` role is *public data*. Rules:

- the desensitize step of the authorized-operation path (``dataspace application release`` /
  the ``public_data_authorized_release`` DAG) records what it did with
  :func:`record_desensitization`: the report (canonical JSON), its SHA-256 and the SHA-256
  of the desensitized file, for an application approved and in its term. The answer, a
  :class:`PublicReleaseAuthorization`, is the only way to release that file;
- :func:`authorized_release` (called by ``releases.plan_release``) refuses a public-data
  release without one, and checks the one given: recorded, for this product, unused, its
  application still approved and in term. An authorization for any other product is refused;
- :func:`use` (called by ``releases.record_publication`` in its transaction) marks the row
  used by the release's version, so one desensitization publishes one release. A release
  that is *quarantined* leaves it unused: the file was desensitized under an approved
  application and nothing of it reached anyone, so the authority may publish the same file
  again once the gate's finding is dealt with, without desensitizing anew;
- the report is readable (:func:`report_of`) by the product's authority, the data-space
  operator and each operator that received a delivery of that release; nobody else.

The ledger keeps only a hash of an entry's facts; the report's SHA-256 is one of those facts,
so :func:`report_of` recomputes them from the stored report and says whether they match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import canonical_json, sha256_hex, utc_iso
from dataspace.controlplane import applications
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import OPERATOR_ID, party_signing_key, require_active
from dataspace.errors import Conflict, InvalidInput, NotFound, Refused, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import Role
from dataspace.ids import participant_id, product_id
from dataspace.ledger.chain import payload_hash
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import (
    DeliveryRow,
    LedgerEntryRow,
    ProductRow,
    PublicDesensitizationRow,
    ReleaseRow,
)
from dataspace.store.types import utcnow

DESENSITIZED = "public_release.desensitized"
AUTHORIZED_PATH = (
    "public data is released only through the authorized-operation path: "
    "`dataspace application release APP` with the authority's source (the "
    "public_data_authorized_release DAG)"
)
SHA256_LENGTH = 64


@dataclass(frozen=True)
class PublicReleaseAuthorization:
    """What the authorized-operation path hands the publish of one desensitized file."""

    desensitization_id: str
    desensitized_sha256: str  # SHA-256 of the desensitized Parquet file that will be published


@dataclass(frozen=True)
class AuthorizedRelease:
    """A checked authorization, as a release plan carries it: with the report to store."""

    authorization: PublicReleaseAuthorization
    report: bytes  # canonical JSON; its SHA-256 is ``report_sha256``
    report_sha256: str


def desensitization_id(application: str, desensitized_sha256: str, report_sha256: str) -> str:
    """``des-`` + 16 hex digits of the application, the file and the report: recording the
    same twice is one row; a run again (its report has another time) is a new one."""
    coordinates = f"{application}\n{desensitized_sha256}\n{report_sha256}"
    return f"des-{hashlib.sha256(coordinates.encode()).hexdigest()[:16]}"


def record_desensitization(
    db: Database,
    keys: KeyStore,
    *,
    application: str,
    report: dict[str, Any],
    desensitized_sha256: str,
    now: datetime | None = None,
) -> PublicReleaseAuthorization:
    """Record what the desensitize step did for an approved application in its term; the
    product's authority signs the ``public_release.desensitized`` entry. Idempotent."""
    now = now or utcnow()
    _check_sha256(desensitized_sha256, "desensitized_sha256")
    view = applications.require_approved(db, application, now)
    document = _check_report(report, view.product_id, desensitized_sha256)
    identifier = desensitization_id(view.application_id, desensitized_sha256, sha256_hex(document))
    with db.transaction() as session:
        product = repository.get_product(session, view.product_id)
        require_active(session, product.owner_id, now, "release public data")
        found = session.get(PublicDesensitizationRow, identifier)
        if found is not None:
            return _authorization_of(found)
        row = PublicDesensitizationRow(
            id=identifier, application_id=view.application_id, product_id=product.id,
            authority=product.owner_id, report=document.decode(),
            report_sha256=sha256_hex(document), desensitized_sha256=desensitized_sha256,
            created_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        change = Change(
            product.owner_id, DESENSITIZED, (view.application_id, product.id, identifier),
            facts_of(row),
        )  # fmt: skip
        record(session, party_signing_key(session, keys, product.owner_id), change, now)
        return _authorization_of(row)


def facts_of(row: PublicDesensitizationRow, *, recompute: bool = False) -> dict[str, Any]:
    """The facts of a ``public_release.desensitized`` entry: hashes and the headline numbers
    (``recompute``: with the SHA-256 of the report as stored now, to check it against the
    ledger)."""
    report = json.loads(row.report)
    report_sha256 = sha256_hex(row.report.encode()) if recompute else row.report_sha256
    kanon = report.get("k_anonymity") if isinstance(report.get("k_anonymity"), dict) else {}
    rows = report.get("rows") if isinstance(report.get("rows"), dict) else {}
    return {
        "report_sha256": report_sha256,
        "desensitized_sha256": row.desensitized_sha256,
        "rows_in": rows.get("input"),
        "rows_out": rows.get("output"),
        "k": kanon.get("k"),
        "smallest_class": kanon.get("smallest_class"),
        "suppressed_groups": kanon.get("suppressed_groups"),
        "suppressed_rows": kanon.get("suppressed_rows"),
    }


def is_public(session: Session, product: ProductRow) -> bool:
    """Whether ``product`` is public data: its owner is a public-data authority."""
    owner = repository.get_participant(session, product.owner_id)
    return Role.PUBLIC_DATA_AUTHORITY.value in owner.roles


def authorized_release(
    db: Database,
    product: str,
    authorization: PublicReleaseAuthorization | None,
    now: datetime,
) -> AuthorizedRelease | None:
    """The checked authorization a release of ``product`` needs (None: not public data)."""
    with db.transaction(read_only=True) as session:
        row = repository.get_product(session, product_id(product))
        if not is_public(session, row):
            if authorization is not None:
                raise InvalidInput(
                    f"{row.id!r} is not a public-data product; publish it without a "
                    "desensitization authorization."
                )
            return None
        if authorization is None:
            raise Refused(f"{row.id!r} is a public-data product of {row.owner_id!r}; "
                          f"{AUTHORIZED_PATH}.")  # fmt: skip
        found = _unused(session, row.id, authorization)
        application = found.application_id
    applications.require_approved(db, application, now)
    document = found.report.encode()
    return AuthorizedRelease(_authorization_of(found), document, found.report_sha256)


def use(
    session: Session, product: str, version: int, authorized: AuthorizedRelease | None
) -> dict[str, Any]:
    """Mark the authorization used by ``version`` in the caller's transaction; the facts it
    adds to ``release.published``. Refused for public data without one (a manifest sent to
    the hub without a reservation comes here without one)."""
    row = repository.get_product(session, product)
    if authorized is None:
        if is_public(session, row):
            raise Refused(f"{row.id!r} is a public-data product of {row.owner_id!r}; "
                          f"{AUTHORIZED_PATH}.")  # fmt: skip
        return {}
    found = _unused(session, product, authorized.authorization)
    found.release_version = version
    return {
        "desensitization_id": found.id,
        "desensitization_report_sha256": found.report_sha256,
    }


# -- readers --------------------------------------------------------------------------------


def report_of(db: Database, reader: str, product: str, version: int) -> dict[str, Any]:
    """The report of a release, with its ledger entry and whether the report matches it."""
    with db.transaction(read_only=True) as session:
        row = _released(session, product_id(product), version)
        _require_reader(session, participant_id(reader), row)
        entry = _entry_of(session, row.id)
        return {
            "desensitization_id": row.id,
            "application_id": row.application_id,
            "product_id": row.product_id,
            "version": row.release_version,
            "authority": row.authority,
            "report_sha256": row.report_sha256,
            "report_sha256_matches": sha256_hex(row.report.encode()) == row.report_sha256,
            "ledger_sequence": None if entry is None else entry.sequence,
            "ledger_matches": entry is not None
            and entry.payload_hash == payload_hash(facts_of(row, recompute=True)),
            "report": json.loads(row.report),
        }


def report_bytes(db: Database, reader: str, product: str, version: int) -> bytes:
    """The stored report exactly as hashed (canonical JSON), for a reader allowed it."""
    with db.transaction(read_only=True) as session:
        row = _released(session, product_id(product), version)
        _require_reader(session, participant_id(reader), row)
        return row.report.encode()


def list_reports(db: Database, reader: str, product: str) -> list[dict[str, Any]]:
    """The released desensitizations of ``product`` that ``reader`` may read, oldest first."""
    query = (
        select(PublicDesensitizationRow)
        .where(
            PublicDesensitizationRow.product_id == product_id(product),
            PublicDesensitizationRow.release_version.is_not(None),
        )
        .order_by(PublicDesensitizationRow.release_version)
    )
    with db.transaction(read_only=True) as session:
        repository.get_product(session, product_id(product))
        rows = [r for r in session.scalars(query) if _may_read(session, reader, r)]
        return [
            {"version": r.release_version, "desensitization_id": r.id,
             "application_id": r.application_id, "report_sha256": r.report_sha256,
             **facts_of(r), "created_at": utc_iso(r.created_at)}
            for r in rows
        ]  # fmt: skip


# -- helpers --------------------------------------------------------------------------------


def _check_report(report: dict[str, Any], product: str, desensitized_sha256: str) -> bytes:
    """The report's canonical JSON, if it is an object about this product and this file."""
    if not isinstance(report, dict):
        raise InvalidInput("The desensitization report must be a JSON object.")
    for key, expected in (("product_id", product), ("desensitized_sha256", desensitized_sha256)):
        if key in report and report[key] != expected:
            raise InvalidInput(
                f"The report's {key} is {report[key]!r}, not {expected!r}: it is not the report "
                "of this desensitization."
            )
    return canonical_json(report)


def _check_sha256(value: str, name: str) -> None:
    if len(value) != SHA256_LENGTH or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInput(f"The {name} {value!r} is not 64 lowercase hex digits.")


def _authorization_of(row: PublicDesensitizationRow) -> PublicReleaseAuthorization:
    return PublicReleaseAuthorization(row.id, row.desensitized_sha256)


def _unused(
    session: Session, product: str, authorization: PublicReleaseAuthorization
) -> PublicDesensitizationRow:
    found = session.get(PublicDesensitizationRow, authorization.desensitization_id)
    if found is None:
        raise NotFound(
            f"There is no desensitization {authorization.desensitization_id!r}; {AUTHORIZED_PATH}."
        )
    if found.product_id != product:
        raise Refused(
            f"The desensitization {found.id} is for {found.product_id!r}, not {product!r}; "
            "release each product with its own."
        )
    if found.release_version is not None:
        raise Conflict(
            f"The desensitization {found.id} was already released as version "
            f"{found.release_version} of {product!r}; run the authorized-operation path again."
        )
    if found.desensitized_sha256 != authorization.desensitized_sha256:
        raise Refused(
            f"The desensitization {found.id} is of another file; publish the file it wrote."
        )
    return found


def _released(session: Session, product: str, version: int) -> PublicDesensitizationRow:
    repository.get_product(session, product)
    found = session.scalar(
        select(PublicDesensitizationRow).where(
            PublicDesensitizationRow.product_id == product,
            PublicDesensitizationRow.release_version == version,
        )
    )
    if found is None:
        raise NotFound(
            f"Version {version} of {product!r} has no desensitization report; see "
            f"`dataspace desensitization list --as YOU {product}`."
        )
    return found


def _may_read(session: Session, reader: str, row: PublicDesensitizationRow) -> bool:
    if reader in (row.authority, OPERATOR_ID):
        return True
    received = (
        select(DeliveryRow.id)
        .join(ReleaseRow, DeliveryRow.release_id == ReleaseRow.id)
        .where(
            ReleaseRow.product_id == row.product_id,
            ReleaseRow.version == row.release_version,
            DeliveryRow.subscriber_id == reader,
        )
    )
    return session.scalar(received.limit(1)) is not None


def _require_reader(session: Session, reader: str, row: PublicDesensitizationRow) -> None:
    if not _may_read(session, reader, row):
        raise Unauthorized(
            f"Only {row.authority!r}, the data-space operator and the operators that received "
            f"version {row.release_version} of {row.product_id!r} read its desensitization "
            f"report, not {reader!r}."
        )


def _entry_of(session: Session, identifier: str) -> LedgerEntryRow | None:
    entries = session.scalars(select(LedgerEntryRow).where(LedgerEntryRow.action == DESENSITIZED))
    return next((e for e in entries if identifier in e.subject_ids), None)
