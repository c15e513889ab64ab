"""Per-partner request limits: a sliding-window counter over one minute, kept in this process's memory.

Each partner has ``partners.rate_limit_per_minute`` (default 12,000: a large platform's peak). The
count of the current fixed minute plus the previous minute's count weighted by how much of it still
lies inside the last 60 seconds approximates a true sliding window in O(1) memory per partner
(Cloudflare's method). Over the limit the request gets 429 with ``Retry-After`` (whole seconds until the
estimate falls below the limit).

Counts live in each process: ``smelend serve --workers N`` gives each worker 1/N of a partner's limit
(:func:`worker_share`; the kernel spreads connections over the workers about evenly), so the service as a
whole allows about the configured figure. Across several hosts, put a shared limiter (the gateway,
Redis) in front.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0
MAX_TRACKED = 100_000  # partners remembered at once; idle ones are forgotten first


@dataclass
class _Window:
    start: float  # start of the current fixed window
    current: int
    previous: int


def worker_share(limit_per_minute: int, workers: int) -> int:
    """Each of ``workers`` processes allows this much of a partner's limit (rounded up: never zero).

    >>> worker_share(12_000, 2), worker_share(5, 2), worker_share(7, 1)
    (6000, 3, 7)
    """
    assert workers >= 1 and limit_per_minute >= 1
    return math.ceil(limit_per_minute / workers)


class RateLimiter:
    """``check(name, limit)`` -> None when allowed (and counted), else the seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def check(self, name: str, limit: int) -> int | None:
        """Count one request for ``name`` if ``limit`` a minute allows it; else return Retry-After seconds."""
        assert limit > 0, "a rate limit is a positive number of requests a minute"
        now = self._clock()
        with self._lock:
            window = self._windows.get(name)
            if window is None:
                if len(self._windows) >= MAX_TRACKED:
                    self._forget_idle(now)
                window = self._windows[name] = _Window(now, 0, 0)
            _advance(window, now)
            elapsed = now - window.start
            estimate = window.previous * (1 - elapsed / WINDOW_SECONDS) + window.current
            if estimate + 1 > limit:
                return _retry_after(window, elapsed, limit)
            window.current += 1
            return None

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def _forget_idle(self, now: float) -> None:
        idle = [name for name, window in self._windows.items() if now - window.start >= 2 * WINDOW_SECONDS]
        for name in idle or list(self._windows)[: len(self._windows) // 2]:
            del self._windows[name]


def _advance(window: _Window, now: float) -> None:
    """Roll the fixed windows forward to the one holding ``now``."""
    passed = int((now - window.start) // WINDOW_SECONDS)
    if passed >= 1:
        window.previous = window.current if passed == 1 else 0
        window.current = 0
        window.start += passed * WINDOW_SECONDS


def _retry_after(window: _Window, elapsed: float, limit: int) -> int:
    """Seconds until one more request fits, if nothing else arrives meanwhile."""
    # Within this window the estimate falls as the previous window's weight shrinks.
    if window.previous > 0 and window.current + 1 <= limit:
        wait = WINDOW_SECONDS * (1 - (limit - 1 - window.current) / window.previous) - elapsed
        return max(1, math.ceil(wait))
    # Otherwise wait into the next window, where this window's count is the weighted one.
    rest = WINDOW_SECONDS - elapsed
    if window.current > 0 and window.current + 1 > limit:
        rest += WINDOW_SECONDS * (1 - (limit - 1) / window.current)
    return max(1, math.ceil(rest))
