"""The load parts of a run: time to first token and turns per second, for every target.

All targets of a worker count are up at once, each chat server in a database of its own, and
every load goes to each of them in turn, in reversed order from one round to the next: what
drifts on the machine during a run (other work, CPU frequency, PostgreSQL's state) falls on all
of them alike, so their ratios are paired.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.driver import drive
from bench.installs import Install
from bench.load import LoadPlan
from bench.plan import Load, Plan
from bench.postgres import PostgresServer, backend_pids, throwaway_database
from bench.processes import Service, chat_server, floor_server
from bench.results import LoadRun, PeakMemory, Results, Target
from bench.stub import reshape


@dataclass(frozen=True)
class Setting:
    """What every part runs with: a scratch directory, PostgreSQL, the stub and the installs."""

    workdir: Path
    postgres: PostgresServer
    stub: Service
    current: Install
    baseline: Install | None

    def servers(self) -> list[tuple[Target, Install]]:
        """The chat servers to measure, with `workers` left to the caller."""
        found = [(Target("server"), self.current)]
        if self.baseline is not None:
            found.append((Target("baseline"), self.baseline))
        return found


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Served:
    target: Target
    service: Service
    backends: Callable[[], list[int]] | None = None


# Besides its pool, each server process holds one connection for the session locks.
CONNECTIONS_OUTSIDE_POOL = 1


def pool_size(plan: Plan, setting: Setting, processes: int, results: Results) -> int:
    """DB_POOL_MAX_SIZE for each of `processes` server processes up at once, as PostgreSQL's
    max_connections allows."""
    postgres = setting.postgres
    size = min(plan.pool_size, postgres.connections_left() // processes - CONNECTIONS_OUTSIDE_POOL)
    if size < 2:
        raise SystemExit(f"PostgreSQL has no room for {processes} pools of connections")
    if size < plan.pool_size:
        results.notes.append(
            f"DB_POOL_MAX_SIZE={plan.pool_size} does not fit this PostgreSQL "
            f"(max_connections={postgres.max_connections}, "
            f"{postgres.reserved_connections} reserved, the rest partly taken by others) "
            f"for {processes} server processes at once: each had {size}. Nothing in "
            f"PostgreSQL's configuration was changed."
        )
    return size


@contextmanager
def serve_all(
    plan: Plan, setting: Setting, workers: int, results: Results
) -> Iterator[list[Served]]:
    """The floor and the chat servers with `workers` workers, and the stub alone if asked."""
    with ExitStack() as stack:
        served = []
        if plan.stub_alone and workers == plan.workers[0]:
            served.append(Served(Target("stub"), setting.stub))
        stub_url = setting.stub.url
        floor = floor_server(setting.current, setting.workdir, stub_url=stub_url, workers=workers)
        served.append(Served(Target("floor", workers), stack.enter_context(floor)))
        size = pool_size(plan, setting, workers * len(setting.servers()), results)
        for target, install in setting.servers():
            url = stack.enter_context(throwaway_database(setting.postgres, f"_{target.kind}"))
            backends = partial(backend_pids, url)
            server = chat_server(
                install,
                setting.workdir,
                stub_url=stub_url,
                database_url=url,
                workers=workers,
                pool_size=size,
                backends=backends,
            )
            served.append(
                Served(Target(target.kind, workers), stack.enter_context(server), backends)
            )
        yield served


def _describe(name: str, run: LoadRun) -> str:
    text = (
        f"{name:<12} {run.target.label:<15} c={run.concurrency:<3} {run.turns:>6} turns "
        f"{run.rate:7.1f}/s  ttft p50 {run.ttft_ms(50):7.1f} ms p99 {run.ttft_ms(99):7.1f} ms  "
        f"cpu/turn {run.cpu_ms_per_turn:6.2f} ms  cpu target {run.cpu.target:.2f} "
        f"{run.cpu.target_split()} stub {run.cpu.stub:.2f} client {run.cpu.client:.2f} "
        f"pg {run.cpu.database:.2f} other {run.cpu.other:.2f}"
    )
    if run.failed:
        text += f"  {run.errors} errors (+{run.warmup_errors} in warm-up), e.g. "
        text += run.error_examples[0]
    return text


def measure(one: Served, load: Load, concurrency: int, plan: Plan, setting: Setting) -> LoadRun:
    client = LoadPlan(
        base_url=one.service.url,
        protocol="openai" if one.target.kind == "stub" else "chat",
        concurrency=concurrency,
        duration=load.seconds,
        session_turns=plan.session_turns,
        stagger=load.stagger,
        message_chars=plan.message_chars,
    )
    outcome, cpu = drive(one.service, setting.stub, client, setting.workdir, one.backends)
    return LoadRun(
        target=one.target,
        concurrency=concurrency,
        first_token_delay=load.shape.delay,
        turns=len(outcome.ttft),
        errors=outcome.errors,
        warmup_errors=outcome.warmup_errors,
        error_examples=outcome.error_examples,
        elapsed=outcome.elapsed,
        ttft=outcome.ttft,
        latency=outcome.latency,
        cpu=cpu,
    )


def _rounds(
    plan: Plan,
    load: Load,
    concurrency: int,
    served: list[Served],
    setting: Setting,
    results: Results,
) -> None:
    runs = results.loads.setdefault(load.name, [])
    for round_ in range(plan.rounds):
        for one in served if round_ % 2 == 0 else served[::-1]:
            if one.target.kind == "stub" and round_:
                continue  # the stub alone is a reference, not compared round by round
            began = time.monotonic()
            run = measure(one, load, concurrency, plan, setting)
            runs.append(run)
            progress(f"{_describe(load.name, run)}  [{time.monotonic() - began:.0f} s]")
    for one in served:
        merged = results.run(load.name, one.target, concurrency)
        if merged is not None and merged.failed:
            results.notes.append(
                f"{load.name}, {one.target.label}, {concurrency} sessions: {merged.errors} turns "
                f"failed ({merged.warmup_errors} more in warm-up), e.g. "
                f"`{merged.error_examples[0]}`"
            )


def load_parts(plan: Plan, setting: Setting, results: Results) -> None:
    """For each worker count, every load at each of its concurrencies, round by round."""
    loads = plan.loads()
    if not loads:
        return
    for workers in plan.workers:
        with serve_all(plan, setting, workers, results) as served:
            for load in loads:
                reshape(setting.stub.url, load.shape)
                for concurrency in load.concurrencies:
                    _rounds(plan, load, concurrency, served, setting, results)
            for one in served:
                if one.target.kind != "stub":
                    rss = one.service.peak_rss_bytes()
                    results.memory.append(PeakMemory(one.target, "loads", rss))
