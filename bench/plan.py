"""What a benchmark run does: its parts, loads and durations, from the command line."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from bench.installs import ROOT
from bench.postgres import Choice
from bench.stub import Shape

Part = Literal["ttft", "throughput", "storage"]
PARTS: tuple[Part, ...] = ("ttft", "throughput", "storage")
# The concurrencies at which the server's CPU per turn, and per streamed token, are read: the
# server is busy at both, and at 100 sessions its CPU goes mostly to streaming tokens.
CPU_CONCURRENCY = 20
TOKEN_CONCURRENCY = 100


@dataclass(frozen=True)
class Load:
    """One kind of load, sent to every target at each of its concurrencies, once per round."""

    name: str
    shape: Shape
    seconds: float
    concurrencies: tuple[int, ...]

    @property
    def stagger(self) -> float:
        """The length of one reply: the sessions' first measured turns are spread over it."""
        return self.shape.delay * self.shape.reply_tokens


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]
    concurrencies: tuple[int, ...]
    workers: tuple[int, ...]
    rounds: int
    stub_alone: bool
    ttft_seconds: float
    throughput_seconds: float
    storage_turns: tuple[int, ...]
    window_turns: int
    token_delay: float
    reply_tokens: int
    message_chars: int
    session_turns: int
    pool_size: int
    max_context_tokens: int
    postgres: Choice
    baseline: str | None
    output: Path | None
    command: str

    def loads(self) -> list[Load]:
        found = []
        if "ttft" in self.parts:
            shape = Shape(self.token_delay, self.reply_tokens)
            found.append(Load("ttft", shape, self.ttft_seconds, self.concurrencies))
        if "throughput" in self.parts:
            shape = Shape(0.0, 1)
            found.append(Load("throughput", shape, self.throughput_seconds, self.concurrencies))
        return found


@dataclass(frozen=True)
class Defaults:
    workers: tuple[int, ...]
    rounds: int
    stub_alone: bool
    ttft_seconds: float
    throughput_seconds: float
    storage_turns: tuple[int, ...]


DEFAULT = Defaults(
    workers=(1, 2),
    rounds=3,
    stub_alone=True,
    ttft_seconds=4.0,
    throughput_seconds=2.0,
    storage_turns=(10, 100, 500),
)
QUICK = Defaults(
    workers=(1,),
    rounds=2,
    stub_alone=False,
    ttft_seconds=1.5,
    throughput_seconds=1.0,
    storage_turns=(10, 100),
)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the chat server against a minimal relay (the floor) and, with "
        "--baseline, against an earlier commit, on this machine, with an OpenAI-compatible "
        "stub as the model, and write BENCHMARKS.md.",
    )
    add = parser.add_argument
    add("--baseline", metavar="REF", help="also run this commit's server, side by side")
    add("--quick", action="store_true", help="short loads, one worker, storage to 100 turns")
    add("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    add("--concurrency", type=_numbers, default=(1, 20, 100), help="sessions at once")
    add("--workers", type=_numbers, help="server processes (default: 1,2)")
    add("--rounds", type=int, help="loads per target, alternating between them (default: 3)")
    add("--seconds", type=float, help="of each load (default: 4 TTFT, 2 turns/s)")
    add("--storage-turns", type=_numbers, help="default: 10,100,500")
    add("--window-turns", type=int, default=10, help="turns timed before each storage length")
    add("--delay", type=float, default=0.02, help="stub's sleep before each token, for TTFT")
    add("--reply-tokens", type=int, default=50, help="reply length for TTFT")
    add("--message-chars", type=int, default=100)
    add("--session-turns", type=int, default=20, help="turns of a session before a new one")
    add("--pool-size", type=int, default=20, help="DB_POOL_MAX_SIZE (default: the server's)")
    add("--max-context-tokens", type=int, default=2000, help="MAX_CONTEXT_TOKENS for storage")
    add(
        "--postgres",
        choices=["auto", "env", "machine", "embedded"],
        default="auto",
        help="auto: DATABASE_URL, else 127.0.0.1:5432 if it answers, else embedded",
    )
    add("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    add("--no-write", action="store_true", help="print the report only")
    return parser


def parse_plan(argv: list[str]) -> Plan:
    parser = _parser()
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    defaults = QUICK if args.quick else DEFAULT
    return Plan(
        parts=cast(tuple[Part, ...], parts),
        concurrencies=args.concurrency,
        workers=args.workers or defaults.workers,
        rounds=args.rounds or defaults.rounds,
        stub_alone=defaults.stub_alone,
        ttft_seconds=args.seconds or defaults.ttft_seconds,
        throughput_seconds=args.seconds or defaults.throughput_seconds,
        storage_turns=tuple(sorted(args.storage_turns or defaults.storage_turns)),
        window_turns=args.window_turns,
        token_delay=args.delay,
        reply_tokens=args.reply_tokens,
        message_chars=args.message_chars,
        session_turns=args.session_turns,
        pool_size=args.pool_size,
        max_context_tokens=args.max_context_tokens,
        postgres=args.postgres,
        baseline=args.baseline,
        output=None if args.no_write else args.output,
        command=shlex.join(["uv", "run", "python", "-m", "bench", *argv]),
    )
