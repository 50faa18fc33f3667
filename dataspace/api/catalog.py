"""The catalog: data products and their policy offers, and the DCAT export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dataspace.api.acts import ActingDep
from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.catalog.model import ProductDescription
from dataspace.policy.model import parse_policy

if TYPE_CHECKING:
    from dataspace.catalog.model import Cadence
    from dataspace.policy.grades import Grade
from dataspace.controlplane import catalog as service

router = APIRouter(tags=["catalog"])


class ProductRegistration(BaseModel):
    """A provider's connector registers a product and its offers (signed by the provider)."""

    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    id: str
    title_zh: str
    title_en: str
    description_zh: str = ""
    description_en: str = ""
    schema_name: str = Field(description="schemas/products/<name>.avsc")
    suite_name: str = Field(description="expectations/<name>.json")
    grade: str = "general"
    chain_tags: list[str] = Field(default_factory=list)
    cadence: str = "weekly"
    offers: list[dict[str, Any]] = Field(min_length=1, description="ODRL offers.")
    auto_accept_chains: list[str] = Field(default_factory=list)


@router.post("/products", status_code=201, summary="Provider: register a product and its offers.")
def register_product(
    body: ProductRegistration, who: ActingDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    node = request.app.state.node
    description = ProductDescription(
        product_id=body.id,
        title_zh=body.title_zh,
        title_en=body.title_en,
        description_zh=body.description_zh,
        description_en=body.description_en,
        owner=who.participant_id,
        schema_name=body.schema_name,
        suite_name=body.suite_name,
        grade=cast("Grade", body.grade),  # ProductDescription checks both against their enums
        chain_tags=tuple(body.chain_tags),
        cadence=cast("Cadence", body.cadence),
        offers=tuple(parse_policy(offer) for offer in body.offers),
    )
    with who.in_hand():
        view = service.create_product(
            db,
            node.keys,
            description,
            artifacts=node.artifacts,
            auto_accept_chains=body.auto_accept_chains,
        )
    return view.to_json()


@router.get("/products", summary="Search the catalog; every filter given must match.")
def list_products(
    _who: CallerDep,
    db: DatabaseDep,
    owner: str | None = None,
    chain: str | None = None,
    grade: str | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    query = service.ProductQuery(owner=owner, chain=chain, grade=grade, text=q)
    return [view.to_json() for view in service.list_products(db, query)]


@router.get("/products/{product_id}", summary="One product with its offers and versions.")
def show_product(product_id: str, _who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    return service.show_product(db, product_id).to_json()


class JsonLdResponse(JSONResponse):
    media_type = "application/ld+json"  # so the OpenAPI document names what is sent


@router.get(
    "/catalog/dcat",
    response_class=JsonLdResponse,
    summary="The catalog as DCAT JSON-LD (dcat:Dataset, odrl:hasPolicy).",
)
def export_dcat(_who: CallerDep, db: DatabaseDep) -> JsonLdResponse:
    return JsonLdResponse(service.export_dcat(db))
