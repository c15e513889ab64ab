"""CPU seconds of other processes, from ``/proc`` (Linux): a server's and its database's share of each request.

Latencies on a shared 2-core machine move with everything else running; CPU per request does not, so the
load and in-process benchmarks report both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_s(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime + stime


class TreeCpu:
    """CPU seconds used by a process and its children (a uvicorn server and its workers)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def by_process(self) -> dict[int, float]:
        """CPU seconds of the process and of each child, by pid."""
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            fields = _stat(int(stat.parent.name))
            if fields is not None and (int(stat.parent.name) == self.pid or int(fields[1]) == self.pid):
                found[int(stat.parent.name)] = _cpu_s(fields)
        return found

    def seconds(self) -> float:
        return sum(self.by_process().values())

    @staticmethod
    def shares(before: dict[int, float], after: dict[int, float]) -> list[float]:
        """Each process's share of the CPU used between two ``by_process`` readings, largest first: how
        evenly the workers split the load (a worker runs one request's Python at a time)."""
        spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
        total = sum(spent.values())
        return sorted((s / total for s in spent.values() if s > 0), reverse=True) if total > 0 else []


class DatabaseCpu:
    """CPU seconds of the PostgreSQL backends serving connections named ``application_name`` (found in
    ``pg_stat_activity``): what requests cost the database besides the service. ``seconds()`` is None when
    the server is not on this machine. Backends that start in between count from zero; pooled ones live on."""

    def __init__(self, url: str, application_name: str) -> None:
        from smelend.store.db import make_engine

        self.engine: Any = make_engine(url, pool_size=1)
        self.application_name = application_name

    def seconds(self) -> dict[int, float] | None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            pids = conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": self.application_name}).all()
        found = {}
        for pid in pids:
            fields = _stat(pid)
            if fields is None:
                return None
            found[pid] = _cpu_s(fields)
        return found

    @staticmethod
    def spent(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        if before is None or after is None:
            return None
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        self.engine.dispose()
