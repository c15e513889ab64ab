"""The product family as data: YAML files in ``catalogue/``, validated on load.

Public API: :func:`load_catalogue`, :func:`load_product_file`, :class:`Product`.
"""

from smelend.products.loader import Catalogue, load_catalogue, load_product_file
from smelend.products.model import Product

__all__ = ["Catalogue", "Product", "load_catalogue", "load_product_file"]
