"""``GET /v1/products`` (the catalogue: a list of objects, each with an ``id``) and ``GET /v1/products/{id}``.

The catalogue is public product information: no authentication needed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from smelend.api.errors import not_found
from smelend.api.routers.applications import ERRORS
from smelend.api.routers.common import service
from smelend.cli.products import product_summary

router = APIRouter(tags=["products"])


@router.get("/v1/products")
def list_products(request: Request) -> list[dict[str, Any]]:
    """Every product: limit range, validity, customer groups, regions, data needed, methods and terms, pricing, caps."""
    return [product_summary(p) for p in service(request).catalogue.values()]


@router.get("/v1/products/{product_id}", responses=ERRORS)
def get_product(product_id: Annotated[str, Path(min_length=1, max_length=40)], request: Request) -> dict[str, Any]:
    """Every setting of one product."""
    product = service(request).catalogue.get(product_id)
    if product is None:
        raise not_found("product")
    return product.model_dump(mode="json")
