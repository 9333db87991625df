"""The issue's targets, each as measured for the chat server and the baseline, met or not.

A target is judged on the chat server's figure (for "half the baseline's", beside the
baseline's); the baseline's figure and the ratio of the two are shown for every target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from bench.plan import CPU_CONCURRENCY, TOKEN_CONCURRENCY, Plan
from bench.results import Halves, Kind, LoadRun, Results, StateReads, StorageRun, Target, ratio

C = CPU_CONCURRENCY
LOADS = ("ttft", "throughput")


@dataclass(frozen=True)
class Verdict:
    what: str
    current: str
    baseline: str
    ratio: str  # current / baseline
    goal: str
    met: bool | None  # None: not measured

    @property
    def mark(self) -> str:
        return "—" if self.met is None else "met" if self.met else "**not met**"


def show(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "×":
        return f"{value:.2f}×"
    digits = 2 if abs(value) < 1 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {unit}".rstrip()


@dataclass(frozen=True)
class Figures:
    """The figures the targets are read from, for any target kind."""

    results: Results
    plan: Plan

    def run(self, load: str, kind: Kind, workers: int, sessions: int) -> LoadRun | None:
        return self.results.run(load, Target(kind, workers), sessions)

    def failed(self, load: str, kind: Kind, workers: int, sessions: int) -> int:
        found = self.run(load, kind, workers, sessions)
        return found.failed if found else 0

    def cpu_per_turn(self, kind: Kind, load: str = "throughput", sessions: int = C) -> float:
        found = self.run(load, kind, 1, sessions)
        return found.cpu_ms_per_turn if found else math.nan

    def cpu_per_token(self, kind: Kind) -> float:
        """(CPU per turn of the TTFT load − CPU per one-token turn) / the tokens added, both
        with one worker at the same concurrency."""
        longer = self.cpu_per_turn(kind, "ttft", TOKEN_CONCURRENCY)
        shorter = self.cpu_per_turn(kind, "throughput", TOKEN_CONCURRENCY)
        return (longer - shorter) / (self.plan.reply_tokens - 1)

    def added_ttft(self, kind: Kind, workers: int, sessions: int, q: float) -> float:
        found = self.run("ttft", kind, workers, sessions)
        return found.added_ttft_ms(q) if found and found.turns else math.nan

    def rate(self, kind: Kind, workers: int) -> float:
        found = self.run("throughput", kind, workers, C)
        return found.rate if found else math.nan

    def storage(self, kind: Kind, turns: int) -> StorageRun | None:
        return self.results.storage_run(Target(kind), turns)

    def growth(self, kind: Kind, value: Callable[[StorageRun], float]) -> float:
        first = self.storage(kind, self.plan.storage_turns[0])
        last = self.storage(kind, self.plan.storage_turns[-1])
        return ratio(value(last), value(first)) if first and last else math.nan

    def at_last(self, kind: Kind, value: Callable[[StorageRun], float]) -> float:
        last = self.storage(kind, self.plan.storage_turns[-1])
        return value(last) if last else math.nan

    def halves(self, kind: Kind, value: Callable[[Halves], float]) -> float:
        found = next((h for h in self.results.halves if h.target.kind == kind), None)
        return value(found) if found else math.nan

    def reads(self, kind: Kind) -> StateReads | None:
        return next((r for r in self.results.reads if r.target.kind == kind), None)


def _verdict(
    what: str,
    figure: Callable[[Kind], float],
    unit: str,
    goal: str,
    passes: Callable[[float, float], bool | None],
    failed: Callable[[Kind], int] = lambda _kind: 0,
) -> Verdict:
    """A figure of turns that failed never meets its target."""
    current, baseline = figure("server"), figure("baseline")

    def shown(kind: Kind, value: float) -> str:
        count = failed(kind)
        return show(value, unit) + (f" ({count} turns failed)" if count else "")

    met = None if math.isnan(current) else passes(current, baseline)
    if met is not None and failed("server"):
        met = False
    return Verdict(
        what,
        shown("server", current),
        shown("baseline", baseline),
        show(ratio(current, baseline), "×"),
        goal,
        met,
    )


def _ttft_p50(f: Figures, workers: int) -> Verdict:
    return _verdict(
        f"added TTFT p50, 1 session, ×{workers}",
        lambda kind: f.added_ttft(kind, workers, 1, 50),
        "ms",
        "≤ 6 ms",
        lambda value, _: value <= 6,
        lambda kind: f.failed("ttft", kind, workers, 1),
    )


def _load_verdicts(f: Figures) -> list[Verdict]:
    found = [
        _verdict(
            f"server CPU per one-token turn, c={C}, ×1",
            f.cpu_per_turn,
            "ms",
            "≤ ½ the baseline's",
            lambda value, baseline: None if math.isnan(baseline) else value <= baseline / 2,
            lambda kind: f.failed("throughput", kind, 1, C),
        ),
        _verdict(
            f"server CPU per streamed token, c={TOKEN_CONCURRENCY}, ×1",
            f.cpu_per_token,
            "ms",
            f"≤ 0.2 ms (floor: {show(f.cpu_per_token('floor'), 'ms')})",
            lambda value, _: value <= 0.2,
            lambda kind: sum(f.failed(load, kind, 1, TOKEN_CONCURRENCY) for load in LOADS),
        ),
    ]
    found += [_ttft_p50(f, workers) for workers in f.plan.workers]
    if 1 in f.plan.workers:
        found.append(
            _verdict(
                f"turns/s at c={C}, ×1, as a share of the floor's",
                lambda kind: ratio(f.rate(kind, 1), f.rate("floor", 1)),
                "%",
                "≥ 25%",
                lambda value, _: value >= 0.25,
                lambda kind: f.failed("throughput", kind, 1, C),
            )
        )
    if 2 in f.plan.workers:
        found += [
            _verdict(
                f"turns/s at c={C}, ×2",
                lambda kind: f.rate(kind, 2),
                "",
                "≥ 150",
                lambda value, _: value >= 150,
                lambda kind: f.failed("throughput", kind, 2, C),
            ),
            _verdict(
                "added TTFT p99, 100 sessions, ×2, × the floor's",
                lambda kind: ratio(
                    f.added_ttft(kind, 2, 100, 99), f.added_ttft("floor", 2, 100, 99)
                ),
                "×",
                "≤ 3×",
                lambda value, _: value <= 3,
                lambda kind: f.failed("ttft", kind, 2, 100),
            ),
        ]
    return found


def _storage_verdicts(f: Figures) -> list[Verdict]:
    short, long = f.plan.storage_turns[0], f.plan.storage_turns[-1]
    if short == long or f.storage("server", long) is None:
        return []

    def history(kind: Kind) -> str:
        run = f.storage(kind, long)
        return (run.history or "—") if run else "—"

    return [
        _verdict(
            f"turn time at {long} turns / at {short} "
            f"(MAX_CONTEXT_TOKENS={f.plan.max_context_tokens})",
            lambda kind: f.growth(kind, lambda run: run.window.turn_ms),
            "×",
            "≤ 1.5×",
            lambda value, _: value <= 1.5,
        ),
        _verdict(
            f"server CPU per turn at {long} turns / at {short}: the turn's own cost, without "
            "the waiting that a busy machine adds to its time",
            lambda kind: f.growth(kind, lambda run: run.window.cpu_ms_per_turn),
            "×",
            "(no target of its own)",
            lambda _value, _baseline: None,
        ),
        _verdict(
            f"WAL per turn at {long} turns / at {short} (full-page images left out)",
            lambda kind: f.growth(kind, lambda run: run.window.wal_per_turn()),
            "×",
            "≤ 2×",
            lambda value, _: value <= 2,
        ),
        _verdict(
            f"tables as left after {long} turns / raw message bytes",
            lambda kind: f.at_last(kind, lambda run: run.times_raw(run.bytes_as_left)),
            "×",
            "≤ 5×",
            lambda value, _: value <= 5,
        ),
        _verdict(
            f"live data (after VACUUM FULL) after {long} turns / raw message bytes",
            lambda kind: f.at_last(kind, lambda run: run.times_raw(run.bytes_vacuumed)),
            "×",
            "≤ 3×",
            lambda value, _: value <= 3,
        ),
        Verdict(
            f"history: all {2 * long} messages back through GET /chat/{{id}}",
            history("server"),
            history("baseline"),
            "—",
            "complete",
            history("server") == "complete",
        ),
    ]


def _beyond_raw(halves: Halves) -> float:
    """The larger half's live bytes per turn beyond the messages' own, in KiB."""
    spans = (halves.first, halves.second)
    return max(s.per_turn(s.live_bytes - s.raw_bytes) for s in spans) / 1024


def _halves_verdicts(f: Figures) -> list[Verdict]:
    if not f.results.halves:
        return []
    some = f.results.halves[0]
    first, second = some.first.label, some.second.label
    return [
        _verdict(
            f"live bytes per turn (after VACUUM FULL), {second} / {first}",
            lambda kind: f.halves(kind, lambda h: ratio(h.second.live_bytes, h.first.live_bytes)),
            "×",
            "≤ 1.3×",
            lambda value, _: value <= 1.3,
        ),
        _verdict(
            f"live bytes per turn beyond the messages' own, the larger of {first} and "
            f"{second.removeprefix('turns ')}",
            lambda kind: f.halves(kind, _beyond_raw),
            "KiB",
            "≤ 2 KiB",
            lambda value, _: value <= 2,
        ),
        _verdict(
            f"WAL per turn, {second} / {first} (full-page images left out)",
            lambda kind: f.halves(
                kind, lambda h: ratio(h.second.wal_per_turn(), h.first.wal_per_turn())
            ),
            "×",
            "(no target of its own)",
            lambda _value, _baseline: None,
        ),
    ]


def _reads_verdict(f: Figures) -> list[Verdict]:
    server, baseline = f.reads("server"), f.reads("baseline")
    if server is None:
        return []

    def shown(reads: StateReads | None) -> tuple[str, float]:
        if reads is None:
            return "—", math.nan
        if reads.back_refused:
            return reads.back_refused, math.nan
        value = ratio(reads.back_ms, reads.head_ms)
        return show(value, "×"), value

    (current, value), (before, _) = shown(server), shown(baseline)
    back = f.plan.storage_turns[-1] - server.turn
    met = False if server.back_refused else None if math.isnan(value) else value <= 2
    return [
        Verdict(
            f"the state after turn {server.turn} ({back} turns back) / the head, each read by a "
            f"server process just started (p50 of {len(server.head_seconds)})",
            current,
            before,
            "—",
            "≤ 2×",
            met,
        )
    ]


def verdicts(results: Results, plan: Plan) -> list[Verdict]:
    figures = Figures(results, plan)
    return (
        _load_verdicts(figures)
        + _storage_verdicts(figures)
        + _halves_verdicts(figures)
        + _reads_verdict(figures)
    )
