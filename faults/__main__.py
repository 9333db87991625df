"""`uv run python -m faults [--sessions N] [--turns N] [--postgres embedded|machine]`: every
fault scenario, on a PostgreSQL of the run's own, then RELIABILITY.md."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import uvicorn

from devtools.databases import throwaway_database
from devtools.openai_stub import StubBehaviour, create_stub
from devtools.ports import free_port
from faults.injections import FAULTS
from faults.postgres import owned_postgres
from faults.report import ROOT, render
from faults.scenario import Place, Result, Shape, run

TOKEN_DELAY = 0.02


@asynccontextmanager
async def _model_stub() -> AsyncIterator[str]:
    """devtools/openai_stub.py served on 127.0.0.1 in this process; yields its base URL."""
    stub = create_stub(StubBehaviour(token_delay=TOKEN_DELAY, record_requests=False))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(stub, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise RuntimeError("the model stub did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        await serving


async def _run_all(args: argparse.Namespace, workdir: Path) -> tuple[list[Result], str]:
    started = time.monotonic()
    shape = Shape(sessions=args.sessions, turns=args.turns)
    results: list[Result] = []
    with owned_postgres(workdir, args.postgres) as postgres:
        async with _model_stub() as model_url:
            for fault in FAULTS:
                print(f"{fault.slug}...", file=sys.stderr, flush=True)
                with throwaway_database(postgres.url, "faults") as database:
                    result = await run(fault, Place(database, model_url, workdir, postgres), shape)
                print(f"  {result.tally}", file=sys.stderr, flush=True)
                results.append(result)
    seconds = time.monotonic() - started
    report = render(
        results, shape=shape, token_delay=TOKEN_DELAY, postgres=postgres, seconds=seconds
    )
    return results, report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--sessions", type=int, default=8, help="default: 8")
    parser.add_argument(
        "--turns", type=int, default=300, help="at least this many turns a fault (default: 300)"
    )
    parser.add_argument(
        "--postgres",
        choices=("embedded", "machine"),
        default="embedded",
        help="the embedded PostgreSQL (default), or a cluster of /usr/lib/postgresql/15",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "RELIABILITY.md")
    args = parser.parse_args()
    # Embedded servers run as another user: every parent directory must be readable.
    workdir = ROOT / ".data" / "scratch" / f"faults-{uuid4().hex[:12]}"
    workdir.mkdir(parents=True)
    try:
        results, report = asyncio.run(_run_all(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.output.write_text(report)
    print(f"wrote {args.output}", file=sys.stderr)
    if any(result.problems for result in results):
        sys.exit(f"problems found: see {args.output}")


if __name__ == "__main__":
    main()
