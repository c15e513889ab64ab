"""The service's machine instructions per request, in process: a figure the host's speed does not move.

This VM's vCPUs run at half speed for minutes at a time when other tenants are busy, which moves every CPU
time by more than most changes to the service do. Instructions retired do not move with it: this script
runs ``api_cpu.py``'s requests (decisions, draws, repayments through the ASGI app, one at a time, signed
before they are sent) under valgrind's callgrind with instrumentation switched on only for each phase's
timed batch (after its warm-up batch), and reports instructions (callgrind's ``Ir``) per request: the
service's own Python, FastAPI, SQLAlchemy, psycopg, numpy, LightGBM and zen alike; the database server's
work is not in it (it is another process). ``--baseline-src DIR`` measures another version's ``src``
folder the same way (``git archive REV src | tar -x -C DIR``) and prints both side by side. Needs valgrind
(``apt-get install valgrind``); a run of 30 requests a phase takes a few minutes.

    .venv/bin/python benchmarks/api_instructions.py [--requests 30] [--postgres-url URL] [--decisions-only]
        [--baseline-src DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PHASES = ("decisions", "draws", "repayments")  # in the order api_cpu runs them: warm-up batch, then the timed one


def child(argv: list[str]) -> None:
    """Run inside valgrind: api_cpu with instrumentation on for every second batch, dumped after each."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import api_cpu

    plain = api_cpu.batch
    count = 0

    def control(*options: str) -> None:
        subprocess.run(["callgrind_control", *options, str(os.getpid())], check=True, stdout=subprocess.DEVNULL)

    async def batch(caller: Any, prepared: list[Any], database: Any = None) -> Any:
        nonlocal count
        count += 1
        timed = count % 2 == 0  # each phase: a warm-up batch, then the timed one
        if timed:
            control("--zero")
            control("--instr=on")
        try:
            return await plain(caller, prepared, None)  # the database's CPU is not this figure
        finally:
            if timed:
                control("--instr=off")
                control(f"--dump={PHASES[count // 2 - 1]}")

    api_cpu.batch = batch  # type: ignore[assignment]
    sys.argv = ["api_cpu.py", *argv]
    api_cpu.main()


def measure(src: str, args: argparse.Namespace, workdir: Path) -> dict[str, int]:
    """Instructions per request of each phase for the ``src`` folder."""
    out = workdir / "callgrind"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    passed = [f"--requests={args.requests}", "--repeats=1"] + (["--decisions-only"] if args.decisions_only else [])
    passed += [f"--postgres-url={args.postgres_url}"] if args.postgres_url else []
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p",
               sys.executable, __file__, "--child", *passed]
    env = os.environ | {"PYTHONPATH": src, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the measured run failed:\n{done.stderr[-3000:]}")
    found: dict[str, int] = {}
    for dump in out.glob("cg.*"):
        text = dump.read_text(errors="replace")
        phase = re.search(r"^desc: Trigger: dump (\w+)$", text, re.M)
        totals = re.search(r"^totals: (\d+)", text, re.M)
        if phase and totals and phase.group(1) in PHASES:
            found[phase.group(1)] = int(totals.group(1)) // args.requests
    return found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="requests in each phase's timed batch (the warm-up has as many, at most 50)")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--decisions-only", action="store_true")
    parser.add_argument("--baseline-src", default=None, help="another version's src folder, measured the same way")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.requests <= 1000:
        parser.error("--requests must be between 1 and 1000")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("api_instructions.py: --tool=callgrind needs valgrind (apt-get install valgrind)", file=sys.stderr)
        raise SystemExit(2)
    here = str(Path(__file__).resolve().parent.parent / "src")
    results: dict[str, Any] = {"requests": args.requests, "backend": "postgresql" if args.postgres_url else "sqlite"}
    with tempfile.TemporaryDirectory(prefix="smelend-instructions-") as tmp:
        for label, src in (("baseline", args.baseline_src), ("this", here)):
            if src is not None:
                print(f"measuring {label} ({src}) ...", file=sys.stderr)
                results[label] = measure(src, args, Path(tmp))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['backend']}: instructions per request (valgrind callgrind Ir, in process, {args.requests} requests a phase)")
    print(f"  {'phase':10s} {'baseline':>12s} {'this':>12s}" if "baseline" in results else f"  {'phase':10s} {'this':>12s}")
    for phase in (p for p in PHASES if p in results["this"]):
        now = results["this"][phase]
        if "baseline" in results:
            before = results["baseline"][phase]
            print(f"  {phase:10s} {before:12,d} {now:12,d}  ({100 * (now - before) / before:+.1f}%)")
        else:
            print(f"  {phase:10s} {now:12,d}")


if __name__ == "__main__":
    main()
