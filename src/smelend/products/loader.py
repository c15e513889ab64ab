"""Loads product files and reports every error at once, each naming the file and the field."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from smelend.datafiles import load_yaml_model
from smelend.errors import Collector, InvalidInput
from smelend.products.model import Product

CATALOGUE_DIR = Path(__file__).with_name("catalogue")
MAX_PRODUCTS = 200


@dataclass(frozen=True)
class Catalogue(Mapping[str, Product]):
    """Products by id, in file-name order."""

    products: tuple[Product, ...]

    def __getitem__(self, product_id: str) -> Product:
        for product in self.products:
            if product.id == product_id:
                return product
        raise KeyError(product_id)

    def __iter__(self) -> Iterator[str]:
        return (p.id for p in self.products)

    def __len__(self) -> int:
        return len(self.products)

    def get_or_error(self, product_id: str, field: str = "product") -> Product:
        if product_id not in self:
            raise InvalidInput.one(field, f"no such product {product_id!r} (known: {', '.join(self)})")
        return self[product_id]


def catalogue_dir() -> Path:
    """``SMELEND_PRODUCTS_DIR`` when set (a bank's own catalogue), else the shipped one."""
    return Path(os.environ.get("SMELEND_PRODUCTS_DIR") or CATALOGUE_DIR)


def load_catalogue(directory: Path | None = None) -> Catalogue:
    directory = directory or catalogue_dir()
    found = Collector()
    products: list[Product] = []
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise InvalidInput.one(str(directory), "holds no product files (*.yaml)")
    assert len(paths) <= MAX_PRODUCTS, f"more than {MAX_PRODUCTS} product files in {directory}"
    for path in paths:
        try:
            products.append(load_product_file(path))
        except InvalidInput as exc:
            found.errors.extend(exc.errors)
    seen: set[str] = set()
    for product in products:
        if product.id in seen:
            found.add(f"{directory}: id", f"product id {product.id!r} is defined twice")
        seen.add(product.id)
    found.raise_if_any()
    return Catalogue(tuple(products))


def load_product_file(path: Path) -> Product:
    """One product file, or :class:`InvalidInput` with every error as ``file: dotted.field``."""
    product = load_yaml_model(path, Product, "product")
    if path.stem != product.id:
        raise InvalidInput.one(f"{path.name}: id", f"must match the file name ({path.stem!r})")
    return product
