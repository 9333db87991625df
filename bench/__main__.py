"""`uv run python -m bench [--quick] [--parts ...]`: measure the server, write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.parts import Setting, load_part, progress
from bench.plan import DEFAULT, PARTS, QUICK, Plan
from bench.postgres import PostgresServer, locate, throwaway_database
from bench.processes import StartError
from bench.procfs import MachineCpu
from bench.provenance import CodeState
from bench.report import Machine, render
from bench.results import Results
from bench.storage import STORAGE_POOL_SIZE, storage_part

ROOT = Path(__file__).resolve().parent.parent


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def parse_plan(argv: list[str]) -> Plan:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the chat server against a minimal relay (the floor) on this "
        "machine, with an OpenAI-compatible stub as the model, and write BENCHMARKS.md.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short loads, one worker, no stub-alone runs, storage to 100 turns (under 2 minutes)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, of {', '.join(PARTS)} (default: all; peak memory comes with each)",
    )
    parser.add_argument("--concurrency", type=_numbers, help="sessions at once (default: 1,20,100)")
    parser.add_argument("--workers", type=_numbers, help="server processes (default: 1,2)")
    parser.add_argument("--seconds", type=float, help="of each load (default: 10 TTFT, 6 turns/s)")
    parser.add_argument("--storage-turns", type=_numbers, help="default: 10,100,500")
    parser.add_argument("--delay", type=float, default=0.02, help="stub's sleep before each token")
    parser.add_argument("--reply-tokens", type=int, default=50, help="reply length for TTFT")
    parser.add_argument("--message-chars", type=int, default=100)
    parser.add_argument(
        "--session-turns", type=int, default=20, help="turns of a session before a new one"
    )
    parser.add_argument(
        "--pool-size", type=int, default=20, help="DB_POOL_MAX_SIZE (default: the server's own)"
    )
    parser.add_argument(
        "--postgres",
        choices=["auto", "env", "machine", "embedded"],
        default="auto",
        help="auto: DATABASE_URL, else 127.0.0.1:5432 if it answers, else embedded",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    defaults = QUICK if args.quick else DEFAULT
    return Plan(
        parts=parts,  # type: ignore[arg-type]
        concurrencies=args.concurrency or defaults.concurrencies,
        workers=args.workers or defaults.workers,
        stub_alone=defaults.stub_alone,
        ttft_seconds=args.seconds or defaults.ttft_seconds,
        throughput_seconds=args.seconds or defaults.throughput_seconds,
        storage_turns=args.storage_turns or defaults.storage_turns,
        token_delay=args.delay,
        reply_tokens=args.reply_tokens,
        message_chars=args.message_chars,
        session_turns=args.session_turns,
        pool_size=args.pool_size,
        postgres=args.postgres,
        output=None if args.no_write else args.output,
        command=shlex.join(["uv", "run", "python", "-m", "bench", *argv]),
    )


def pool_sizes(plan: Plan, postgres: PostgresServer, notes: list[str]) -> dict[int, int]:
    """DB_POOL_MAX_SIZE per process for each worker count, within PostgreSQL's max_connections."""
    left = postgres.connections_left()
    sizes = {}
    for workers in plan.workers:
        sizes[workers] = min(plan.pool_size, left // workers)
        if sizes[workers] < plan.pool_size:
            notes.append(
                f"DB_POOL_MAX_SIZE={plan.pool_size} does not fit this PostgreSQL "
                f"(max_connections={postgres.max_connections}, "
                f"{postgres.reserved_connections} reserved, "
                f"{postgres.max_connections - postgres.reserved_connections - left} otherwise "
                f"taken or kept for the benchmark): with --workers {workers} each process had "
                f"{sizes[workers]}. Nothing in PostgreSQL's configuration was changed."
            )
        if sizes[workers] < 2:
            raise SystemExit(f"PostgreSQL has no room for {workers} pools of connections")
    return sizes


def background_cores(seconds: float = 1.0) -> float:
    """Cores the machine keeps busy before the benchmark starts anything."""
    before = MachineCpu.now()
    time.sleep(seconds)
    return (MachineCpu.now().busy - before.busy) / seconds


def setup_lines(
    plan: Plan,
    sizes: dict[int, int],
    seconds: float,
    idle: float,
    code: tuple[CodeState, CodeState],
) -> list[str]:
    pools = ", ".join(f"{size} with --workers {w}" for w, size in sizes.items())
    moved = "" if code[0].digest == code[1].digest else " (**the code changed during the run**)"
    return [
        f"command: `{plan.command}` ({seconds / 60:.1f} minutes)",
        f"server code: {code[0].describe()}{moved}",
        f"before the run, the machine's other processes kept {idle:.2f} cores busy",
        "chat-server: `chat-server --workers N` (uvicorn) with LOG_LEVEL=warning, "
        f"DB_POOL_MAX_SIZE per process: {pools} ({STORAGE_POOL_SIZE} for the storage part), "
        "in a throwaway database `bench_<hex>` on that PostgreSQL, dropped afterwards",
        "floor: `bench/floor.py`, the same endpoints relaying the stub's stream with httpx and "
        "nothing else (no graph, no database), under uvicorn with the same worker count",
        "model: `tests/openai_stub.py --delay D --reply-tokens N`, one process",
        "load: `bench/load.py`, one process with an httpx.AsyncClient per session (one client "
        "shared by 100 sessions spent most of its CPU in httpx's connection pool and was the "
        "bottleneck; `python -m bench.load --shared-client` still runs that way); each session "
        "makes one warm-up turn, not counted; in the TTFT part the sessions' first measured "
        "turns are spread over the length of one reply",
        "all of them on 127.0.0.1 and the same cores: the CPU columns show who used them, in "
        "cores busy on average over the measured window (target: the server's processes, split "
        "per process when there are several; "
        "PostgreSQL: the backends of its connections; other: the rest of the machine, "
        "PostgreSQL's background processes included)",
    ]


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # As SystemExit, a termination still stops the servers and drops the throwaway databases.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    plan = parse_plan(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    code_before = CodeState.now()
    idle = background_cores()
    results = Results()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
        locate(plan.postgres) as postgres,
    ):
        progress(f"PostgreSQL: {postgres.origin}; logs in {scratch}")
        sizes = pool_sizes(plan, postgres, results.notes)
        machine = Machine.here(postgres.version, postgres.origin)
        try:
            with throwaway_database(postgres) as url:
                setting = Setting(Path(scratch), postgres, url, sizes)
                for part in plan.parts:
                    if part == "storage":
                        storage_part(plan, setting, results)
                    else:
                        load_part(part, plan, setting, results)
        except StartError as error:
            raise SystemExit(f"bench: {error}") from None
    code = (code_before, CodeState.now())
    setup = setup_lines(plan, sizes, time.monotonic() - started, idle, code)
    report = render(plan, machine, results, setup)
    print(report)
    if plan.output is not None:
        plan.output.write_text(report + "\n")
        progress(f"written to {plan.output}")


if __name__ == "__main__":
    main()
