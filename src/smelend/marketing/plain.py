"""Figures as JSON-ready data: what the CLI prints with ``--json`` and the API returns.

Money is kept as integer fen in the core (``*_fen``) and shown as a decimal string of yuan without the
suffix (``spend_fen: 12345`` -> ``spend: "123.45"``), as every other smelend document does; ratios
stay floats at full precision; dates and times are ISO strings.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime
from typing import Any

from smelend.money import yuan


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            key = str(key)
            if key.endswith("_fen") and (item is None or isinstance(item, int) and not isinstance(item, bool)):
                out[key[: -len("_fen")]] = None if item is None else str(yuan(item))
            else:
                out[key] = jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
