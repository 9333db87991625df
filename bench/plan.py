"""What a benchmark run does: its parts, loads and durations, from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.postgres import Choice
from bench.results import Target

Part = Literal["ttft", "throughput", "storage"]
PARTS: tuple[Part, ...] = ("ttft", "throughput", "storage")


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]
    concurrencies: tuple[int, ...]
    workers: tuple[int, ...]
    stub_alone: bool
    ttft_seconds: float
    throughput_seconds: float
    storage_turns: tuple[int, ...]
    token_delay: float
    reply_tokens: int
    message_chars: int
    session_turns: int
    pool_size: int
    postgres: Choice
    output: Path | None
    command: str

    def targets(self) -> list[Target]:
        """The stub alone, then the floor and the server side by side at each worker count."""
        targets = [Target("stub")] if self.stub_alone else []
        for workers in self.workers:
            targets += [Target("floor", workers), Target("server", workers)]
        return targets

    @property
    def storage_seconds(self) -> float:
        """A bound on the time a storage run may take: it stops at its turn count long before."""
        return 600.0


@dataclass(frozen=True)
class Defaults:
    concurrencies: tuple[int, ...]
    workers: tuple[int, ...]
    stub_alone: bool
    ttft_seconds: float
    throughput_seconds: float
    storage_turns: tuple[int, ...]


DEFAULT = Defaults(
    concurrencies=(1, 20, 100),
    workers=(1, 2),
    stub_alone=True,
    ttft_seconds=10.0,
    throughput_seconds=6.0,
    storage_turns=(10, 100, 500),
)
QUICK = Defaults(
    concurrencies=(1, 20, 100),
    workers=(1,),
    stub_alone=False,
    ttft_seconds=2.5,
    throughput_seconds=2.0,
    storage_turns=(10, 100),
)
