"""The catalog: data products and their policy offers, and the DCAT export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane import catalog as service

router = APIRouter(tags=["catalog"])


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


@router.get("/catalog/dcat", summary="The catalog as DCAT JSON-LD (dcat:Dataset, odrl:hasPolicy).")
def export_dcat(_who: CallerDep, db: DatabaseDep) -> JSONResponse:
    return JSONResponse(service.export_dcat(db), media_type="application/ld+json")
