"""Runs the load client as a process of its own and accounts for the CPU of its window."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from time import monotonic

from bench import procfs
from bench.load import LoadPlan, LoadResult
from bench.processes import PYTHON, Service, environment
from bench.results import NO_CPU, CpuUse

# Creating sessions and the warm-up turns come before the measured window; replies after it.
SETUP_ALLOWANCE_SECONDS = 120.0


@dataclass(frozen=True)
class _Snapshot:
    at: float
    machine: procfs.MachineCpu
    target: dict[int, float]
    stub: float
    database: dict[int, float]


def _snapshot(
    target: Service, stub: Service, backends: Callable[[], list[int]] | None
) -> _Snapshot:
    database = procfs.cpu_seconds_each(backends()) if backends else {}
    return _Snapshot(
        at=monotonic(),
        machine=procfs.MachineCpu.now(),
        target=procfs.cpu_seconds_each(target.pids()),
        stub=0.0 if stub is target else stub.cpu_seconds(),
        database=database,
    )


# A shorter window (a load that failed in its warm-up) tells nothing of who used the CPU.
SHORTEST_WINDOW_SECONDS = 0.5


def _cpu_use(before: _Snapshot, after: _Snapshot, client_seconds: float) -> CpuUse:
    elapsed = after.at - before.at
    if elapsed < SHORTEST_WINDOW_SECONDS:
        return NO_CPU
    # A process that started during the window used all of its time in it.
    database = sum(cpu - before.database.get(pid, 0.0) for pid, cpu in after.database.items())
    processes = [cpu - before.target.get(pid, 0.0) for pid, cpu in after.target.items()]
    use = CpuUse(
        target=sum(processes) / elapsed,
        stub=(after.stub - before.stub) / elapsed,
        client=client_seconds / elapsed,
        database=database / elapsed,
        other=0.0,
        target_processes=tuple(sorted((cpu / elapsed for cpu in processes), reverse=True)),
        seconds=elapsed,
    )
    machine = (after.machine.busy - before.machine.busy) / elapsed
    other = machine - use.target - use.stub - use.client - use.database
    return replace(use, other=max(0.0, other))


def _failed(client: subprocess.Popen[str], log_path: Path, when: str) -> RuntimeError:
    client.wait(60)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
    return RuntimeError(f"the load client failed {when}; its log ends with:\n{tail}")


def drive(
    target: Service,
    stub: Service,
    load: LoadPlan,
    workdir: Path,
    backends: Callable[[], list[int]] | None = None,
) -> tuple[LoadResult, CpuUse]:
    """Sends `load` to `target`; returns what the client saw and who was busy meanwhile.

    `backends` lists the PostgreSQL backends serving the target, whose CPU time is counted apart.
    """
    log_path = workdir / "load.log"
    result_path = workdir / "load-result.json"
    result_path.unlink(missing_ok=True)
    command = [PYTHON, "-m", "bench.load", "--result", str(result_path), *load.argv()]
    timeout = SETUP_ALLOWANCE_SECONDS + load.duration + 120.0
    with log_path.open("ab") as log:
        client = subprocess.Popen(
            command, cwd=workdir, env=environment(), stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        assert client.stdout is not None
        if client.stdout.readline().strip() != "measuring":
            raise _failed(client, log_path, "before measuring")
        before = _snapshot(target, stub, backends)
        if client.stdout.readline().strip() != "measured":
            raise _failed(client, log_path, "while measuring")
        after = _snapshot(target, stub, backends)
        if client.wait(timeout) != 0:
            raise _failed(client, log_path, "after measuring")
        result = LoadResult(**json.loads(result_path.read_text()))
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    return result, _cpu_use(before, after, result.client_cpu_seconds)
