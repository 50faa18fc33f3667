"""The catalog: creating data products with their offers, finding them, exporting DCAT.

Rules enforced here:

- the owner is an active participant (admitted, valid credential) with a provider role
  (chain_leader, public_data_authority or authorized_operator) and creates the product itself;
- the product's Avro schema exists as ``<schemas_dir>/products/<name>.avsc`` and parses, and
  its expectation suite exists as ``<expectations_dir>/<name>.json`` in Great Expectations 1.x
  suite form with the same name;
- every column an offer projects, masks or filters on is a field of that schema;
- an offer is allowed for the product's grade (a core-grade product offers no raw delivery);
- a product id is used once (Conflict; nothing is written).

Creating a product writes one ledger entry signed by the owner and one event keyed by it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.catalog import DEFAULT_BASE_IRI
from dataspace.catalog.dcat import Agent, catalog_jsonld
from dataspace.catalog.model import ProductDescription
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import (
    OPERATOR_ID,
    list_participants,
    party_signing_key,
    require_active,
)
from dataspace.controlplane.read_models import OfferView, ProductView
from dataspace.errors import Conflict, InvalidInput, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.ids import product_id as checked_product_id
from dataspace.ids import validate_slug
from dataspace.policy.grades import Grade, check_grade
from dataspace.policy.model import Policy, parse_policy, policy_to_json
from dataspace.policy.vocabulary import Role
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import OfferRow, ProductRow, ReleaseRow
from dataspace.store.types import utcnow

PROVIDER_ROLES = frozenset(
    {Role.CHAIN_LEADER, Role.PUBLIC_DATA_AUTHORITY, Role.AUTHORIZED_OPERATOR}
)
ID_LIMIT = 64
FILE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.ASCII)


@dataclass(frozen=True)
class Artifacts:
    """Where product schemas and expectation suites are kept (both are code in the repo)."""

    schemas_dir: Path
    expectations_dir: Path

    def schema_path(self, name: str) -> Path:
        return self.schemas_dir / "products" / f"{name}.avsc"

    def suite_path(self, name: str) -> Path:
        return self.expectations_dir / f"{name}.json"


@dataclass(frozen=True)
class ProductQuery:
    """Filters of :func:`list_products`; every one given must match (text: case-insensitive)."""

    owner: str | None = None
    chain: str | None = None
    grade: str | None = None
    text: str | None = None


def create_product(
    db: Database,
    keys: KeyStore,
    product: ProductDescription,
    *,
    artifacts: Artifacts,
    auto_accept_chains: Iterable[str] = (),
    now: datetime | None = None,
) -> ProductView:
    """Add ``product`` with its offers to the catalog (see the module docstring for rules)."""
    now = now or utcnow()
    chains = sorted({validate_slug(chain, "industry chain") for chain in auto_accept_chains})
    columns = schema_columns(artifacts, product.schema_name)
    check_suite(artifacts, product.suite_name)
    for index, policy in enumerate(product.offers):
        check_offer(product.grade, policy, columns, f"offer {index + 1}")
    with db.transaction() as session:
        owner = require_active(session, product.owner, now, "publish data products")
        _require_provider(owner.id, owner.roles)
        if session.get(ProductRow, product.product_id) is not None:
            raise Conflict(
                f"A product with the id {product.product_id!r} already exists; choose another id."
            )
        row = _product_row(product, chains, now)
        session.add(row)
        session.flush()  # the models have no relationships: insert the product before its offers
        offers = [
            OfferRow(
                id=offer_id(product.product_id, n), product_id=row.id, policy=policy_to_json(p)
            )
            for n, p in enumerate(product.offers, start=1)
        ]
        session.add_all(offers)
        session.flush()
        facts = {"product": _facts(row), "offers": {o.id: o.policy for o in offers}}
        change = Change(owner.id, "product.published", (row.id,), facts, about=owner.id)
        record(session, party_signing_key(session, keys, owner.id), change, now)
        return _view(row, offers, [])


def list_products(db: Database, query: ProductQuery = ProductQuery()) -> list[ProductView]:
    """Products matching every filter given, by id."""
    statement = select(ProductRow).order_by(ProductRow.id)
    if query.owner:
        statement = statement.where(ProductRow.owner_id == query.owner)
    if query.grade:
        statement = statement.where(ProductRow.grade == query.grade)
    with db.transaction() as session:
        rows = [row for row in session.scalars(statement) if _matches(row, query)]
        return [_load_view(session, row) for row in rows]


def show_product(db: Database, product_id: str) -> ProductView:
    with db.transaction() as session:
        return _load_view(session, repository.get_product(session, checked_product_id(product_id)))


def export_dcat(
    db: Database,
    *,
    base_iri: str = DEFAULT_BASE_IRI,
    title_zh: str = "可信数据空间数据产品目录",
    title_en: str = "Trusted data space product catalog",
    description_zh: str = "可信数据空间中各参与方发布的数据产品及其使用策略（ODRL 要约）。",
    description_en: str = (
        "The data products published by the participants of the trusted data space, "
        "each with its usage policies as ODRL offers."
    ),
) -> dict[str, Any]:
    """The whole catalog as DCAT 3 JSON-LD (see :mod:`dataspace.catalog.dcat`).

    The operator publishes the catalog; each product's owner is named with its registered
    name, and its connector's endpoint, when registered, is where its distributions are had.
    """
    products = [description_of(view) for view in list_products(db)]
    agents = {
        view.participant_id: Agent(view.participant_id, view.name, view.endpoint)
        for view in list_participants(db)
    }
    return catalog_jsonld(
        products,
        base_iri=base_iri,
        title_zh=title_zh,
        title_en=title_en,
        description_zh=description_zh,
        description_en=description_en,
        operator=agents.get(OPERATOR_ID, Agent(OPERATOR_ID, OPERATOR_ID)),
        participants=agents,
    )


# -- rules shared with negotiation (counter-offers are offers too) ---------------------------


def check_offer(grade: str, policy: Policy, columns: frozenset[str] | None, what: str) -> None:
    """Refuse an offer the grade forbids or one naming columns the schema lacks."""
    # Only the policy-shape rule applies when offering; approvals are checked at agreement
    # time, so they are granted here to ask check_grade about the policy alone.
    check_grade(Grade(grade), policy, "CN", operator_approved=True, export_approved=True)
    if columns is None:
        return
    for permission in policy.permissions:
        view = permission.view
        named = set(view.columns or ()) | {mask.column for mask in view.masks}
        named |= {view.row_filter_column} if view.row_filter_column else set()
        unknown = sorted(named - columns)
        if unknown:
            raise InvalidInput(
                f"The policy of {what} names the column {unknown[0]!r}, which the product's "
                "schema does not have; use the schema's field names."
            )


def schema_columns(artifacts: Artifacts, name: str) -> frozenset[str]:
    """The field names of the product schema ``name``; InvalidInput if missing or invalid."""
    path = artifacts.schema_path(validate_schema_name(name))
    try:
        parsed = fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise InvalidInput(
            f"There is no product schema {name!r} ({path} is missing); add the .avsc file first."
        ) from exc
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise InvalidInput(f"The product schema {path} is not a valid Avro schema: {exc}.") from exc
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise InvalidInput(f"The product schema {path} must be an Avro record.")
    return frozenset(field["name"] for field in parsed["fields"])


def check_suite(artifacts: Artifacts, name: str) -> None:
    """Refuse a suite that is missing or not a Great Expectations 1.x suite named ``name``."""
    path = artifacts.suite_path(validate_schema_name(name, "expectation suite"))
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(
            f"There is no expectation suite {name!r} ({path} is missing); add the suite first."
        ) from exc
    except ValueError as exc:
        raise InvalidInput(f"The expectation suite {path} is not valid JSON ({exc}).") from exc
    expectations = suite.get("expectations") if isinstance(suite, dict) else None
    if not isinstance(suite, dict) or suite.get("name") != name or not expectations:
        raise InvalidInput(
            f"The expectation suite {path} must be a Great Expectations suite named {name!r} "
            "with at least one expectation."
        )
    if not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in expectations):
        raise InvalidInput(f"Every expectation in {path} needs a 'type'; fix the suite.")


def validate_schema_name(name: str, what: str = "product schema") -> str:
    """A schema or suite name must be safe as one file name: lowercase, digits, '_' and '-'."""
    if not isinstance(name, str) or FILE_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidInput(
            f"The {what} name {name!r} is not valid: it must be 1 to 64 characters of "
            "lowercase a-z, digits, '_' and '-', starting with a letter or digit."
        )
    return name


def offer_id(product_id: str, number: int) -> str:
    """``<product>-offer-<n>``, the product part shortened so the id stays a slug."""
    suffix = f"-offer-{number}"
    return product_id[: ID_LIMIT - len(suffix)].rstrip("-") + suffix


def description_of(view: ProductView) -> ProductDescription:
    return ProductDescription(
        product_id=view.product_id,
        title_zh=view.title_zh,
        title_en=view.title_en,
        description_zh=view.description_zh,
        description_en=view.description_en,
        owner=view.owner,
        schema_name=view.schema_name,
        suite_name=view.suite_name,
        grade=Grade(view.grade),
        chain_tags=view.chain_tags,
        cadence=view.cadence,  # type: ignore[arg-type]  # validated back into Cadence
        offers=tuple(parse_policy(offer.policy) for offer in view.offers),
        versions=tuple(str(version) for version in view.versions),
        quality_score=view.quality_score,
    )


# -- internals ------------------------------------------------------------------------------


def _require_provider(owner: str, roles: list[str]) -> None:
    if not PROVIDER_ROLES & set(roles):
        allowed = ", ".join(sorted(role.value for role in PROVIDER_ROLES))
        raise Unauthorized(
            f"The participant {owner!r} has no provider role, so it cannot publish data "
            f"products; it needs one of: {allowed}."
        )


def _product_row(product: ProductDescription, chains: list[str], now: datetime) -> ProductRow:
    return ProductRow(
        id=product.product_id,
        owner_id=product.owner,
        title_zh=product.title_zh,
        title_en=product.title_en,
        description_zh=product.description_zh,
        description_en=product.description_en,
        schema_name=product.schema_name,
        suite_name=product.suite_name,
        grade=product.grade.value,
        chain_tags=list(product.chain_tags),
        cadence=product.cadence.value,
        auto_accept_chains=chains,
        created_at=now,
    )


def _facts(row: ProductRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "owner": row.owner_id,
        "schema": row.schema_name,
        "suite": row.suite_name,
        "grade": row.grade,
        "chainTags": list(row.chain_tags),
        "autoAcceptChains": list(row.auto_accept_chains),
    }


def _matches(row: ProductRow, query: ProductQuery) -> bool:
    if query.chain and query.chain not in row.chain_tags:
        return False
    if not query.text:
        return True
    needle = query.text.casefold()
    haystack = (row.id, row.title_zh, row.title_en, row.description_zh, row.description_en)
    return any(needle in text.casefold() for text in haystack)


def _load_view(session: Session, row: ProductRow) -> ProductView:
    offers = session.scalars(select(OfferRow).where(OfferRow.product_id == row.id)).all()
    offers = sorted(offers, key=lambda offer: (len(offer.id), offer.id))  # offer-2 before -10
    versions = session.scalars(
        select(ReleaseRow.version)
        .where(ReleaseRow.product_id == row.id, ReleaseRow.status == "accepted")
        .order_by(ReleaseRow.version)
    ).all()
    return _view(row, list(offers), list(versions))


def _view(row: ProductRow, offers: list[OfferRow], versions: list[int]) -> ProductView:
    return ProductView(
        product_id=row.id,
        owner=row.owner_id,
        title_zh=row.title_zh,
        title_en=row.title_en,
        description_zh=row.description_zh,
        description_en=row.description_en,
        schema_name=row.schema_name,
        suite_name=row.suite_name,
        grade=row.grade,
        chain_tags=tuple(row.chain_tags),
        cadence=row.cadence,
        auto_accept_chains=tuple(row.auto_accept_chains),
        offers=tuple(OfferView(offer.id, offer.policy) for offer in offers),
        versions=tuple(versions),
        quality_score=row.quality_score,
        quality_checked_at=row.quality_checked_at,
        quality_report_key=row.quality_report_key,
    )
