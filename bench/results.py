"""What a benchmark run measured, as the report reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["stub", "floor", "server", "baseline"]
LABELS = {"stub": "stub alone", "floor": "floor", "server": "chat-server", "baseline": "baseline"}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the nearest ranks; NaN if no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float | None, to: float | None) -> float:
    if value is None or to is None or math.isnan(value) or math.isnan(to) or to <= 0:
        return math.nan
    return value / to


@dataclass(frozen=True)
class Target:
    """What the load is sent to: the stub alone, the floor, the chat server or the baseline."""

    kind: Kind
    workers: int = 1

    def floor(self) -> Target:
        return Target("floor", self.workers)

    @property
    def label(self) -> str:
        name = LABELS[self.kind]
        return name if self.kind == "stub" else f"{name} ×{self.workers}"


@dataclass(frozen=True)
class CpuUse:
    """Cores kept busy on average over the measured window of `seconds`, by whom."""

    target: float
    stub: float
    client: float
    database: float
    other: float
    target_processes: tuple[float, ...]
    seconds: float

    def target_split(self) -> str:
        """The target's share per process, busiest first (the two busiest at least), when it
        has several processes: with --workers 2, whether both workers did the work."""
        if len(self.target_processes) < 2:
            return ""
        busy = sum(cpu >= 0.005 for cpu in self.target_processes)
        return " + ".join(f"{cpu:.2f}" for cpu in self.target_processes[: max(2, busy)])


NO_CPU = CpuUse(math.nan, math.nan, math.nan, math.nan, math.nan, (), 0.0)


def merge_cpu(uses: list[CpuUse]) -> CpuUse:
    """The CPU use over several windows, as if they were one."""
    valid = [use for use in uses if use.seconds > 0 and not math.isnan(use.target)]
    seconds = sum(use.seconds for use in valid)
    if not seconds:
        return NO_CPU

    def mean(values: list[float]) -> float:
        return sum(v * use.seconds for v, use in zip(values, valid, strict=True)) / seconds

    width = min(len(use.target_processes) for use in valid)
    return CpuUse(
        target=mean([use.target for use in valid]),
        stub=mean([use.stub for use in valid]),
        client=mean([use.client for use in valid]),
        database=mean([use.database for use in valid]),
        other=mean([use.other for use in valid]),
        target_processes=tuple(
            mean([use.target_processes[i] for use in valid]) for i in range(width)
        ),
        seconds=seconds,
    )


@dataclass(frozen=True)
class LoadRun:
    """One load sent to one target (one round), or the rounds of it merged."""

    target: Target
    concurrency: int
    first_token_delay: float
    turns: int
    errors: int
    warmup_errors: int
    error_examples: list[str]
    elapsed: float
    ttft: list[float] = field(repr=False)
    latency: list[float] = field(repr=False)
    cpu: CpuUse

    @property
    def rate(self) -> float:
        return self.turns / self.elapsed if self.elapsed > 0 else math.nan

    def ttft_ms(self, q: float) -> float:
        return percentile(self.ttft, q) * 1000

    def added_ttft_ms(self, q: float) -> float:
        """Time to first token beyond the stub's own sleep before its first token."""
        return (percentile(self.ttft, q) - self.first_token_delay) * 1000

    def latency_ms(self, q: float) -> float:
        return percentile(self.latency, q) * 1000

    @property
    def cpu_ms_per_turn(self) -> float:
        """The target's CPU time over the measured window, per turn measured."""
        if not self.turns:
            return math.nan
        return self.cpu.target * self.cpu.seconds / self.turns * 1000

    @property
    def failed(self) -> int:
        return self.errors + self.warmup_errors


def merge_runs(runs: list[LoadRun]) -> LoadRun:
    """The rounds of one load to one target, as one run."""
    first = runs[0]
    examples = [e for run in runs for e in run.error_examples]
    return LoadRun(
        target=first.target,
        concurrency=first.concurrency,
        first_token_delay=first.first_token_delay,
        turns=sum(run.turns for run in runs),
        errors=sum(run.errors for run in runs),
        warmup_errors=sum(run.warmup_errors for run in runs),
        error_examples=list(dict.fromkeys(examples)),
        elapsed=sum(run.elapsed for run in runs),
        ttft=[t for run in runs for t in run.ttft],
        latency=[t for run in runs for t in run.latency],
        cpu=merge_cpu([run.cpu for run in runs]),
    )


@dataclass(frozen=True)
class PeakMemory:
    """The resident set high-water marks of a server's processes."""

    target: Target
    part: str
    peak_rss_bytes: list[int]

    @property
    def total(self) -> int:
        return sum(self.peak_rss_bytes)

    @property
    def largest(self) -> int:
        return max(self.peak_rss_bytes, default=0)


@dataclass(frozen=True)
class Window:
    """The last `len(durations)` turns of one session before it reached its length."""

    durations: list[float]
    cpu_seconds: float
    wal_bytes: int | None
    wal_fpi_bytes: int | None

    @property
    def turn_ms(self) -> float:
        return percentile(self.durations, 50) * 1000

    @property
    def cpu_ms_per_turn(self) -> float:
        return self.cpu_seconds / len(self.durations) * 1000 if self.durations else math.nan

    def wal_per_turn(self, full_pages: bool = False) -> float:
        """WAL bytes per turn, full-page images included or not."""
        if self.wal_bytes is None or self.wal_fpi_bytes is None or not self.durations:
            return math.nan
        written = self.wal_bytes - (0 if full_pages else self.wal_fpi_bytes)
        return written / len(self.durations)


@dataclass(frozen=True)
class StorageRun:
    """One session of a server alone in its database, after `turns` turns."""

    target: Target
    turns: int
    raw_bytes: int
    window: Window
    rows: dict[str, int]
    bytes_as_left: dict[str, int]
    # Only after the session's last turn:
    bytes_vacuumed: dict[str, int] | None = None
    history: str | None = None  # "complete", or what is wrong with it
    history_seconds: float = math.nan

    def times_raw(self, sizes: dict[str, int] | None) -> float:
        return ratio(sum(sizes.values()), self.raw_bytes) if sizes else math.nan


@dataclass(frozen=True)
class Span:
    """What turns `first` to `last` of one session added: the raw text sent and got back, the
    tables' live bytes (after VACUUM FULL, at the span's end less at its start) and the WAL."""

    first: int
    last: int
    raw_bytes: int
    live_bytes: int
    wal_bytes: int | None
    wal_fpi_bytes: int | None

    @property
    def label(self) -> str:
        return f"turns {self.first}–{self.last}"

    def per_turn(self, count: float | None) -> float:
        turns = self.last - self.first + 1
        return math.nan if count is None or turns < 1 else count / turns

    def wal_per_turn(self, full_pages: bool = False) -> float:
        if self.wal_bytes is None or self.wal_fpi_bytes is None:
            return math.nan
        return self.per_turn(self.wal_bytes - (0 if full_pages else self.wal_fpi_bytes))


@dataclass(frozen=True)
class Halves:
    """One session's first half of turns and its second, side by side."""

    target: Target
    first: Span
    second: Span


@dataclass(frozen=True)
class StateReads:
    """A session's state read back by a server process just started, one read a process: the
    head (GET /threads/{id}/state), and the state after turn `turn` by its checkpoint id."""

    target: Target
    turn: int
    head_seconds: list[float]
    back_seconds: list[float]
    # Why the state after `turn` was not given back (the baseline keeps the head only).
    back_refused: str | None = None

    @property
    def head_ms(self) -> float:
        return percentile(self.head_seconds, 50) * 1000

    @property
    def back_ms(self) -> float:
        return percentile(self.back_seconds, 50) * 1000


@dataclass
class Results:
    # Keyed by the load's name (bench.plan.Load.name), one run per target, concurrency and round.
    loads: dict[str, list[LoadRun]] = field(default_factory=dict)
    storage: list[StorageRun] = field(default_factory=list)
    halves: list[Halves] = field(default_factory=list)
    reads: list[StateReads] = field(default_factory=list)
    memory: list[PeakMemory] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def run(self, load: str, target: Target, concurrency: int) -> LoadRun | None:
        """All rounds of `load` sent to `target` at `concurrency`, merged."""
        runs = [
            r
            for r in self.loads.get(load, [])
            if r.target == target and r.concurrency == concurrency
        ]
        return merge_runs(runs) if runs else None

    def storage_run(self, target: Target, turns: int) -> StorageRun | None:
        return next((r for r in self.storage if r.target == target and r.turns == turns), None)
