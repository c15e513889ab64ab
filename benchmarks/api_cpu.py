"""The service's CPU per request, in process: decisions, draws and repayments through the ASGI app.

The load benchmark (``api_load.py``) needs a quiet machine; this figure does not. It builds the app as
``smelend serve`` does (``create_app`` on a fresh SQLite file, or ``--postgres-url``), creates a partner,
and calls the ASGI application directly (no sockets, no HTTP client: a scope, the signed body, a ``send``
that keeps the answer), one request at a time, for each phase: ``POST /v1/applications`` for distinct
simulated applicants, ``POST /v1/lines/{id}/draws`` (100 yuan, 3 months) across lines opened from the
offers, and ``POST /v1/loans/{id}/repayments`` (10 yuan). Requests are signed before the clock starts.
The figure is the process's CPU time (``time.process_time``: every thread, so the threadpool's work is
in it) per request, best of ``--repeats`` batches; what HTTP parsing costs in uvicorn (httptools) is not
in it, which is the same before and after a change to the service.

    .venv/bin/python benchmarks/api_cpu.py [--requests 200] [--repeats 3] [--postgres-url URL]
        [--profile decisions|draws|repayments] [--decisions-only] [--baseline-src DIR [--rounds 2]] [--json]

``--profile`` prints the top of a cProfile (cumulative) of one batch of that phase instead (the main
thread only). ``--baseline-src DIR`` measures another version's ``src`` folder (e.g. ``git archive REV
src | tar -x -C DIR``) turn about with this one, each in fresh processes, and prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from process_cpu import DatabaseCpu


class Caller:
    """Calls an ASGI app with prepared, signed requests, as uvicorn would hand them over."""

    def __init__(self, app: Any, key_id: str, secret: str) -> None:
        self.app, self.key_id, self.secret = app, key_id, secret

    def prepare(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[dict[str, Any], bytes]:
        from smelend.api.signing import signed_headers

        content = b"" if body is None else json.dumps(body).encode()
        headers = signed_headers(self.key_id, self.secret, method, path, content)
        if body is not None:
            headers |= {"content-type": "application/json", "content-length": str(len(content))}
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }
        return scope, content

    async def send(self, prepared: tuple[dict[str, Any], bytes]) -> tuple[int, Any]:
        scope, content = prepared
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": content, "more_body": False}

        status, chunks = 0, []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(dict(scope), receive, send)
        body = b"".join(chunks)
        return status, (json.loads(body) if body else None)


async def batch(caller: Caller, prepared: list[tuple[dict[str, Any], bytes]], database: DatabaseCpu | None = None) -> tuple[float, float | None, list[Any]]:
    """CPU seconds of this process and of the database for sending ``prepared`` one after another, and
    the answers (each must be a 201)."""
    db_before = database.seconds() if database else None
    began = time.process_time()
    answers = [await caller.send(p) for p in prepared]
    cpu = time.process_time() - began
    db_cpu = DatabaseCpu.spent(db_before, database.seconds()) if database else None
    bad = [a for a in answers if a[0] != 201]
    assert not bad, f"{len(bad)} requests failed, e.g. {bad[0]}"
    return cpu, db_cpu, [a[1] for a in answers]


def postgres_schema(url: str, schema: str, create: bool) -> str:
    """Create (or drop) ``schema`` on the PostgreSQL server at ``url``, as the tests do; the URL that uses it."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from smelend.store.db import make_engine

    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"' if create else f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import simulate_applications
    from sqlalchemy.engine import make_url

    from smelend.store import open_store
    from smelend.store.access import create_partner

    workdir = Path(tempfile.mkdtemp(prefix="smelend-cpu-"))
    schema = f"cpu_{os.getpid()}_{int(time.time())}"
    url = postgres_schema(args.postgres_url, schema, create=True) if args.postgres_url else f"sqlite:///{workdir / 'cpu.db'}"
    if args.postgres_url:
        url = make_url(url).update_query_dict({"application_name": schema}).render_as_string(hide_password=False)
    os.environ.setdefault("SMELEND_DATA_DIR", str(workdir))
    engine = open_store(url)
    database = DatabaseCpu(url, schema) if args.postgres_url else None
    with engine.begin() as conn:
        _, key_id, secret = create_partner(conn, "cpu bench", rate_limit_per_minute=1_000_000, max_lending_share="1")
    app = create_app(engine)
    caller = Caller(app, key_id, secret)
    n, repeats = args.requests, args.repeats
    apps = simulate_applications(n * (repeats + 1) + 50, seed=7)

    def application(i: int) -> tuple[dict[str, Any], bytes]:
        a = apps[i]
        return caller.prepare("POST", "/v1/applications", {
            "applicant": {"name": a.applicant.name, "id_number": a.applicant.id_number, "mobile": "1" + a.applicant.mobile[-10:]},
            "enterprise": {"name": a.enterprise.name, "uscc": a.enterprise.uscc},
            "product": a.product_id, "requested_amount": f"{a.requested_amount_fen // 100}.00", "channel": "partner",
            "consent": {"data_use": True},
        })

    results: dict[str, Any] = {"backend": "postgresql" if args.postgres_url else "sqlite", "requests": n, "repeats": repeats}
    profile_of = args.profile

    async def measure(name: str, make: Any) -> list[Any]:
        """Warm-up batch, then ``repeats`` timed batches; the best CPU ms per request."""
        docs: list[Any] = []
        _, _, warm = await batch(caller, [make(i) for i in range(min(n, 50))])
        docs += warm
        cpus, db_cpus = [], []
        for r in range(repeats):
            prepared = [make(50 + r * n + i) for i in range(n)]
            if profile_of == name and r == 0:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                cpu, db_cpu, more = await batch(caller, prepared, database)
                profiler.disable()
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
            else:
                cpu, db_cpu, more = await batch(caller, prepared, database)
            cpus.append(cpu)
            db_cpus.append(db_cpu)
            docs += more
        results[name] = {"cpu_ms_per_request": 1000 * min(cpus) / n, "batches_ms_per_request": [round(1000 * c / n, 2) for c in cpus]}
        if all(c is not None for c in db_cpus):
            results[name]["database_cpu_ms_per_request"] = 1000 * min(db_cpus) / n  # type: ignore[type-var]
        shown = f"  database {results[name]['database_cpu_ms_per_request']:6.2f} ms/request" if "database_cpu_ms_per_request" in results[name] else ""
        print(f"  {name:10s} CPU {results[name]['cpu_ms_per_request']:6.2f} ms/request (batches {results[name]['batches_ms_per_request']}){shown}", file=sys.stderr)
        return docs

    decisions = await measure("decisions", application)
    if args.decisions_only:
        engine.dispose()
        if database:
            database.close()
        return results
    offers = [d["offer"]["id"] for d in decisions if d.get("offer")]
    lines = []
    for offer_id in offers[:40]:
        status, doc = await caller.send(caller.prepare("POST", f"/v1/offers/{offer_id}/accept", {}))
        if status == 201:
            lines.append(doc["id"])
    assert lines, "no offer was accepted"
    loan_docs = await measure("draws", lambda i: caller.prepare(
        "POST", f"/v1/lines/{lines[i % len(lines)]}/draws", {"amount": "100.00", "method": "equal-installment", "term": 3}))
    loans = [d["id"] for d in loan_docs]
    await measure("repayments", lambda i: caller.prepare("POST", f"/v1/loans/{loans[i % len(loans)]}/repayments", {"amount": "10.00"}))
    engine.dispose()
    if database:
        database.close()
    if args.postgres_url:
        postgres_schema(args.postgres_url, schema, create=False)
    return results


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """This tree and ``--baseline-src`` (another version's ``src`` folder) measured turn about, each in a
    fresh process, ``--rounds`` times: the best of each, side by side (a busy machine moves both)."""
    import subprocess

    here = Path(__file__).resolve().parent.parent / "src"
    passed = [f"--requests={args.requests}", f"--repeats={args.repeats}", "--json"] + (["--decisions-only"] if args.decisions_only else [])
    passed += [f"--postgres-url={args.postgres_url}"] if args.postgres_url else []
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "this": []}
    for r in range(args.rounds):
        for label, src in (("baseline", args.baseline_src), ("this", str(here))):
            env = os.environ | {"PYTHONPATH": src}
            print(f"round {r + 1}: {label} ({src})", file=sys.stderr)
            out = subprocess.run([sys.executable, __file__, *passed], env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            runs[label].append(json.loads(out))
    phases = [p for p in ("decisions", "draws", "repayments") if p in runs["this"][0]]
    figures = ["cpu_ms_per_request"] + (["database_cpu_ms_per_request"] if "database_cpu_ms_per_request" in runs["this"][0][phases[0]] else [])
    return {
        label: {figure: {p: min(run[p][figure] for run in found) for p in phases} for figure in figures} for label, found in runs.items()
    } | {"rounds": args.rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per timed batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--profile", choices=("decisions", "draws", "repayments"), default=None)
    parser.add_argument("--decisions-only", action="store_true", help="stop after the decisions (for a profile)")
    parser.add_argument("--baseline-src", default=None, help="another version's src folder, measured turn about with this one")
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline-src: fresh processes per version")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.baseline_src:
        found = compare(args)
        if args.json:
            print(json.dumps(found, indent=2))
            return
        for figure, title in (("cpu_ms_per_request", "service"), ("database_cpu_ms_per_request", "database (PostgreSQL backends)")):
            if figure not in found["this"]:
                continue
            print(f"{title}: CPU ms per request, in process (best of {args.rounds} processes x {args.repeats} batches of {args.requests})")
            print(f"  {'phase':10s} {'baseline':>9s} {'this':>9s}")
            for name, value in found["this"][figure].items():
                before = found["baseline"][figure][name]
                print(f"  {name:10s} {before:9.2f} {value:9.2f}  ({100 * (value / before - 1):+.0f}%)")
        return
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['backend']}: CPU ms per request (best of {args.repeats} batches of {args.requests}, in process)")
    for name in ("decisions", "draws", "repayments"):
        if name in results:
            database = results[name].get("database_cpu_ms_per_request")
            print(f"  {name:10s} {results[name]['cpu_ms_per_request']:6.2f}" + ("" if database is None else f"   database {database:6.2f}"))


if __name__ == "__main__":
    main()
