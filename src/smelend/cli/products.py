"""`smelend products`: the product catalogue."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from smelend.cli.common import JSON_OPTION, emit_json, products_app, stdout
from smelend.products import Product, load_catalogue



def product_summary(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "limit": {"min": str(product.limit.min), "max": str(product.limit.max)},
        "line_validity_months": product.line_validity_months,
        "customer_groups": list(product.eligibility.customer_groups),
        "regions": list(product.eligibility.regions),
        "data_required": list(product.eligibility.data_required),
        "repayment_methods": {m.value: [t.min_term, t.max_term] for m, t in product.repayment_methods.items()},
        "pricing_model": product.pricing.model.value,
        "rate_floor": str(product.pricing.floor),
        "rate_cap": str(product.pricing.cap),
        "apr_cap": str(product.regulatory.apr_cap),
        "interest_calc": product.conventions.interest_calc.value,
        "penalty_rate_multiplier": str(product.penalty.rate_multiplier),
    }


@products_app.command("list")
def products_list(json_out: bool = JSON_OPTION) -> None:
    """List the products in the catalogue."""
    catalogue = load_catalogue()
    if json_out:
        emit_json([product_summary(p) for p in catalogue.values()])
        return
    table = Table(title="Products")
    for column in ("id", "name", "limit (yuan)", "groups", "repayment methods (terms)", "pricing", "rate cap", "APR cap"):
        table.add_column(column)
    for p in catalogue.values():
        methods = ", ".join(f"{m.value} {t.min_term}-{t.max_term}" for m, t in p.repayment_methods.items())
        table.add_row(p.id, p.name, f"{p.limit.min}-{p.limit.max}", ", ".join(p.eligibility.customer_groups), methods,
                      p.pricing.model.value, str(p.pricing.cap), str(p.regulatory.apr_cap))
    stdout.print(table)


@products_app.command("show")
def products_show(name: str = typer.Argument(..., help="Product id, as `products list` shows it."), json_out: bool = JSON_OPTION) -> None:
    """Show every setting of one product."""
    product = load_catalogue().get_or_error(name, "name")
    document = product.model_dump(mode="json")
    if json_out:
        emit_json(document)
        return
    table = Table(title=product.name, show_header=False)
    table.add_column("setting")
    table.add_column("value")
    for key, value in _flatten(document):
        table.add_row(key, value)
    stdout.print(table)


def _flatten(document: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", "" if value is None else str(value)))
    return rows


