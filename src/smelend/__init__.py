"""smelend: Internet business loans for small and micro enterprises.

The domain core (``money``, ``ids``, ``servicing``, ``products``, ...) is pure Python and imports
neither a web framework nor a database; ``store`` and ``cli`` are adapters around it.
"""

__version__ = "0.1.0"
