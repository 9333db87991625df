"""`uv run python -m bench [--quick] [--baseline REF] [--parts ...]`: measure the server, write
BENCHMARKS.md."""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import installs
from bench.installs import CodeState, Install
from bench.parts import Setting, load_parts, progress
from bench.plan import Plan, parse_plan
from bench.postgres import PostgresServer, locate
from bench.processes import StartError, openai_stub
from bench.procfs import MachineCpu
from bench.report import Machine, render
from bench.results import Results
from bench.storage import STORAGE_POOL_SIZE, storage_part
from devtools.processes import INHERITED, INHERITED_PREFIXES


def background_cores(seconds: float = 1.0) -> float:
    """Cores the machine keeps busy before the benchmark starts anything."""
    before = MachineCpu.now()
    time.sleep(seconds)
    return (MachineCpu.now().busy - before.busy) / seconds


def setup_lines(
    plan: Plan,
    postgres: PostgresServer,
    servers: tuple[Install, Install | None],
    code: tuple[CodeState, CodeState],
    seconds: float,
    idle: float,
) -> list[str]:
    current, baseline = servers
    moved = "" if code[0].digest == code[1].digest else " (**the code changed during the run**)"
    settings = ", ".join(f"{name}={value}" for name, value in postgres.settings.items())
    inherited = ", ".join([*INHERITED, *(f"{prefix}*" for prefix in INHERITED_PREFIXES)])
    lines = [
        f"command: `{plan.command}` ({seconds / 60:.1f} minutes)",
        f"before the run, the machine's other processes kept {idle:.2f} cores busy",
        f"PostgreSQL: {postgres.version}, {postgres.origin}; {settings}",
        f"chat-server: {current.describe()}{moved}",
    ]
    if baseline is not None:
        lines.append(f"baseline: {baseline.describe()}, in a git worktree removed afterwards")
    return [
        *lines,
        "each chat server: `chat-server --workers N` (uvicorn) from its install, with "
        f"LOG_LEVEL=warning and DB_POOL_MAX_SIZE={plan.pool_size} ({STORAGE_POOL_SIZE} in the "
        "long conversation) unless a note says otherwise, in a throwaway database `bench_<hex>` "
        "of its own on that PostgreSQL, dropped afterwards; every process the benchmark starts "
        f"inherits only {inherited} from its environment (no API_KEYS: the API is open)",
        f"rounds: every load goes to each target in turn, {plan.rounds} times, in reversed "
        "order from one round to the next; the tables give all rounds together",
        "floor: `bench/floor.py`, the same endpoints relaying the stub's stream with httpx and "
        "nothing else (no graph, no database), under uvicorn with the same worker count, in "
        "the chat-server's install",
        "model: `bench/stub.py` (devtools/openai_stub.py, its replies' shape set for each load), "
        "one process, in the benchmark's development environment",
        "load: `bench/load.py`, one process with an httpx.AsyncClient per session (one client "
        "shared by 100 sessions spent most of its CPU in httpx's connection pool and was the "
        "bottleneck; `python -m bench.load --shared-client` still runs that way); each session "
        "makes one warm-up turn, not counted; in the TTFT part the sessions' first measured "
        "turns are spread over the length of one reply",
        "all of them on 127.0.0.1 and the same cores: the CPU columns show who used them, in "
        "cores busy on average over the measured window (server: its processes, split per "
        "process when there are several; PostgreSQL: the backends of its connections; other: "
        "the rest of the machine, the idle targets and PostgreSQL's background processes "
        "included)",
    ]


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # As SystemExit, a termination still stops the servers, drops the throwaway databases and
    # removes the baseline's worktree.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    plan = parse_plan(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    code_before = CodeState.now()
    idle = background_cores()
    results = Results()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        postgres = stack.enter_context(locate(plan.postgres))
        progress(f"PostgreSQL: {postgres.origin}; logs in {scratch}")
        current = installs.current()
        progress(f"chat-server: {current.describe()}")
        baseline = None
        if plan.baseline is not None:
            baseline = stack.enter_context(installs.baseline(plan.baseline))
            progress(f"baseline: {baseline.describe()}")
        try:
            stub = stack.enter_context(openai_stub(scratch))
            setting = Setting(scratch, postgres, stub, current, baseline)
            load_parts(plan, setting, results)
            if "storage" in plan.parts:
                storage_part(plan, setting, results)
        except StartError as error:
            raise SystemExit(f"bench: {error}") from None
    code = (code_before, CodeState.now())
    elapsed = time.monotonic() - started
    setup = setup_lines(plan, postgres, (current, baseline), code, elapsed, idle)
    report = render(plan, Machine.here(), results, setup)
    print(report)
    if plan.output is not None:
        plan.output.write_text(report + "\n")
        progress(f"written to {plan.output}")


if __name__ == "__main__":
    main()
