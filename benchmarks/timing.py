"""What every benchmark script times with: best of a few runs after a warm-up (least disturbed by other load)."""

from __future__ import annotations

import time
from collections.abc import Callable

REPEATS = 3


def best_seconds(run: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best of ``repeats`` timed runs after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)
