"""What a benchmark run measured, as the report reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["stub", "floor", "server"]
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the nearest ranks; NaN if no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Target:
    """What the load is sent to: the stub alone, the floor, or the chat server."""

    kind: Kind
    workers: int = 1

    def floor(self) -> Target:
        """The floor with as many workers: what this target is compared with."""
        return Target("floor", self.workers)

    @property
    def label(self) -> str:
        if self.kind == "stub":
            return "stub alone"
        name = "floor" if self.kind == "floor" else "chat-server"
        return f"{name} ×{self.workers}"


@dataclass(frozen=True)
class CpuUse:
    """Cores kept busy on average over the measured window, by whom."""

    target: float
    stub: float
    client: float
    database: float
    other: float
    target_processes: tuple[float, ...]

    def target_split(self) -> str:
        """The target's share per process, busiest first (the two busiest at least), when it
        has several processes: with --workers 2, whether both workers did the work."""
        if len(self.target_processes) < 2:
            return ""
        busy = sum(cpu >= 0.005 for cpu in self.target_processes)
        return " + ".join(f"{cpu:.2f}" for cpu in self.target_processes[: max(2, busy)])


@dataclass(frozen=True)
class LoadRun:
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


def find_run(runs: list[LoadRun], target: Target, concurrency: int) -> LoadRun | None:
    return next((r for r in runs if r.target == target and r.concurrency == concurrency), None)


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
class StorageRun:
    """One session after `turns` turns, alone in a fresh database."""

    turns: int
    message_bytes: int
    reply_bytes: int
    rows: dict[str, int]
    bytes_as_is: dict[str, int]
    bytes_vacuumed: dict[str, int]
    last_turns: list[float] = field(repr=False)

    @property
    def raw_bytes(self) -> int:
        return self.message_bytes + self.reply_bytes


@dataclass
class Results:
    ttft: list[LoadRun] = field(default_factory=list)
    throughput: list[LoadRun] = field(default_factory=list)
    storage: list[StorageRun] = field(default_factory=list)
    memory: list[PeakMemory] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
