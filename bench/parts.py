"""The load parts of a run: time to first token and turns per second, for every target."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.driver import Load, drive
from bench.plan import Plan
from bench.postgres import PostgresServer, backend_pids
from bench.processes import Service, chat_server, floor_server, openai_stub
from bench.results import LoadRun, PeakMemory, Results, Target


@dataclass(frozen=True)
class Setting:
    """Where the parts run: a scratch directory and a throwaway database."""

    workdir: Path
    postgres: PostgresServer
    database_url: str
    pool_sizes: dict[int, int]

    def backends(self) -> list[int]:
        return backend_pids(self.database_url)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextmanager
def serve(target: Target, setting: Setting, stub: Service) -> Iterator[Service]:
    if target.kind == "stub":
        yield stub
    elif target.kind == "floor":
        with floor_server(setting.workdir, stub_url=stub.url, workers=target.workers) as floor:
            yield floor
    else:
        with chat_server(
            setting.workdir,
            stub_url=stub.url,
            database_url=setting.database_url,
            workers=target.workers,
            pool_size=setting.pool_sizes[target.workers],
            backends=setting.backends,
        ) as server:
            yield server


def _describe(part: str, run: LoadRun) -> str:
    text = (
        f"{part:<10} {run.target.label:<15} c={run.concurrency:<3} {run.turns:>6} turns "
        f"{run.rate:7.1f}/s  ttft p50 {run.ttft_ms(50):7.1f} ms p99 {run.ttft_ms(99):7.1f} ms  "
        f"cpu target {run.cpu.target:.2f} {run.cpu.target_split()} stub {run.cpu.stub:.2f} "
        f"client {run.cpu.client:.2f} pg {run.cpu.database:.2f} other {run.cpu.other:.2f}"
    )
    if run.errors or run.warmup_errors:
        text += f"  {run.errors} errors (+{run.warmup_errors} in warm-up), e.g. "
        text += run.error_examples[0]
    return text


@dataclass(frozen=True)
class Shape:
    """What the stub does in a part, and how long each load lasts."""

    delay: float
    reply_tokens: int
    seconds: float


def shape_of(part: str, plan: Plan) -> Shape:
    """`ttft`: the stub sleeps before each token of a reply of several; `throughput`: it sends
    a one-token reply at once."""
    if part == "ttft":
        return Shape(plan.token_delay, plan.reply_tokens, plan.ttft_seconds)
    return Shape(0.0, 1, plan.throughput_seconds)


def measure(
    target: Target,
    service: Service,
    stub: Service,
    concurrency: int,
    shape: Shape,
    plan: Plan,
    setting: Setting,
) -> LoadRun:
    load = Load(
        protocol="openai" if target.kind == "stub" else "chat",
        concurrency=concurrency,
        duration=shape.seconds,
        message_chars=plan.message_chars,
        session_turns=plan.session_turns,
        stagger=shape.delay * shape.reply_tokens,
    )
    outcome, cpu = drive(service, stub, load, setting.workdir, backends=setting.backends)
    return LoadRun(
        target=target,
        concurrency=concurrency,
        first_token_delay=shape.delay,
        turns=len(outcome.ttft),
        errors=outcome.errors,
        warmup_errors=outcome.warmup_errors,
        error_examples=outcome.error_examples,
        elapsed=outcome.elapsed,
        ttft=outcome.ttft,
        latency=outcome.latency,
        cpu=cpu,
    )


def load_part(part: str, plan: Plan, setting: Setting, results: Results) -> None:
    """Each target serves every concurrency in turn, then reports its peak memory."""
    shape = shape_of(part, plan)
    runs = results.ttft if part == "ttft" else results.throughput
    with openai_stub(setting.workdir, delay=shape.delay, reply_tokens=shape.reply_tokens) as stub:
        for target in plan.targets():
            with serve(target, setting, stub) as service:
                for concurrency in plan.concurrencies:
                    began = time.monotonic()
                    run = measure(target, service, stub, concurrency, shape, plan, setting)
                    runs.append(run)
                    progress(f"{_describe(part, run)}  [{time.monotonic() - began:.0f} s]")
                    if run.errors or run.warmup_errors:
                        results.notes.append(
                            f"{part}, {target.label}, {concurrency} sessions: {run.errors} turns "
                            f"failed ({run.warmup_errors} more in warm-up), e.g. "
                            f"`{run.error_examples[0]}`"
                        )
                if target.kind != "stub":
                    results.memory.append(PeakMemory(target, part, service.peak_rss_bytes()))
