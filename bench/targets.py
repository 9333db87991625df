"""The issue's targets, each beside what the run measured, met or not."""

from __future__ import annotations

from dataclasses import dataclass

from bench.results import LoadRun, Results, Target, find_run


@dataclass(frozen=True)
class Verdict:
    what: str
    measured: str
    goal: str
    met: bool

    @property
    def mark(self) -> str:
        return "met" if self.met else "**not met**"


def _failures(run: LoadRun) -> str:
    failed = run.errors + run.warmup_errors
    return f" ({failed} turns failed)" if failed else ""


def _latency_verdict(what: str, run: LoadRun, q: float, limit_ms: float) -> Verdict:
    if not run.turns:
        return Verdict(what, f"no turn succeeded{_failures(run)}", f"≤ {limit_ms:g} ms", False)
    value = run.added_ttft_ms(q)
    met = value <= limit_ms and not (run.errors or run.warmup_errors)
    return Verdict(what, f"{value:.1f} ms{_failures(run)}", f"≤ {limit_ms:g} ms", met)


def verdicts(results: Results, workers: tuple[int, ...]) -> list[Verdict]:
    found: list[Verdict] = []
    for count in workers:
        server = Target("server", count)
        name = server.label
        if one := find_run(results.ttft, server, 1):
            found.append(_latency_verdict(f"added TTFT p50, 1 session, {name}", one, 50, 5))
        if hundred := find_run(results.ttft, server, 100):
            found.append(_latency_verdict(f"added TTFT p99, 100 sessions, {name}", hundred, 99, 50))
        if twenty := find_run(results.throughput, server, 20):
            found.append(
                Verdict(
                    f"turns/s at concurrency 20, {name}",
                    f"{twenty.rate:.0f}{_failures(twenty)}",
                    "≥ 150",
                    twenty.rate >= 150,
                )
            )
            floor = find_run(results.throughput, server.floor(), 20)
            if floor is not None and floor.rate > 0:
                share = twenty.rate / floor.rate
                found.append(
                    Verdict(
                        f"{name} rate at concurrency 20 / {floor.target.label}'s",
                        f"{share:.0%}",
                        "≥ 40%",
                        share >= 0.4,
                    )
                )
    last = max(results.storage, key=lambda run: run.turns, default=None)
    if last is not None:
        as_is = sum(last.bytes_as_is.values()) / last.raw_bytes
        vacuumed = sum(last.bytes_vacuumed.values()) / last.raw_bytes
        found.append(
            Verdict(
                f"checkpoint tables after {last.turns} turns / raw message bytes (as is)",
                f"{as_is:.1f}× (after VACUUM FULL: {vacuumed:.1f}×)",
                "≤ 3×",
                as_is <= 3,
            )
        )
    if len(results.storage) > 1:
        counts = [sum(run.rows.values()) for run in results.storage]
        turns = " / ".join(str(run.turns) for run in results.storage)
        found.append(
            Verdict(
                f"checkpoint rows of the session after {turns} turns",
                " / ".join(map(str, counts)),
                "constant",
                len(set(counts)) == 1,
            )
        )
    return found
