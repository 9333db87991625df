"""The report: Markdown tables of a run's figures, its targets, and the machine it ran on."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.plan import Plan
from bench.results import (
    CHECKPOINT_TABLES,
    LoadRun,
    PeakMemory,
    Results,
    StorageRun,
    find_run,
    percentile,
)
from bench.targets import verdicts


@dataclass(frozen=True)
class Machine:
    cores: int
    python: str
    postgres: str
    postgres_origin: str
    date: str

    @classmethod
    def here(cls, postgres_version: str, postgres_origin: str) -> Machine:
        return cls(
            cores=os.cpu_count() or 0,
            python=f"{platform.python_implementation()} {platform.python_version()}",
            postgres=postgres_version,
            postgres_origin=postgres_origin,
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f} ms"


def _ratio(value: float, floor: float) -> str:
    if math.isnan(value) or math.isnan(floor) or floor <= 0:
        return "—"
    return f"{value / floor:.2f}×"


def _size(count: int) -> str:
    if count >= 1 << 20:
        return f"{count / (1 << 20):.1f} MiB"
    if count >= 1 << 10:
        return f"{count / (1 << 10):.0f} KiB"
    return f"{count} B"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


CPU_HEADER = "CPU (cores): target / PostgreSQL / stub / client / other"


def _cpu(run: LoadRun) -> str:
    cpu = run.cpu
    values = (cpu.target, cpu.database, cpu.stub, cpu.client, cpu.other)
    if any(math.isnan(value) for value in values):
        return "—"
    text = " / ".join(f"{value:.2f}" for value in values)
    split = cpu.target_split()
    return f"{text} (target: {split})" if split else text


def _errors(run: LoadRun) -> str:
    if run.warmup_errors:
        return f"{run.errors} (+{run.warmup_errors} in warm-up)"
    return str(run.errors)


def _ttft_section(plan: Plan, runs: list[LoadRun]) -> list[str]:
    rows = []
    for run in runs:
        floor = find_run(runs, run.target.floor(), run.concurrency)
        ratios = ["—", "—"]
        if floor is not None and run.target.kind == "server":
            ratios = [_ratio(run.added_ttft_ms(q), floor.added_ttft_ms(q)) for q in (50, 99)]
        rows.append(
            [
                run.target.label,
                str(run.concurrency),
                str(run.turns),
                _ms(run.ttft_ms(50)),
                _ms(run.ttft_ms(99)),
                _ms(run.added_ttft_ms(50)),
                _ms(run.added_ttft_ms(99)),
                *ratios,
                f"{run.rate:.1f}",
                _errors(run),
                _cpu(run),
            ]
        )
    return [
        "## Time to first token",
        "",
        f"The stub sleeps {plan.token_delay * 1000:g} ms before each of the {plan.reply_tokens} "
        f"tokens of its reply; every session sends turns of {plan.message_chars} characters back "
        f"to back for {plan.ttft_seconds:g} s (a client moves to a new session after "
        f"{plan.session_turns} turns). TTFT is from sending `POST /chat/{{id}}` to the "
        f"first `event: token` (for the stub alone: to the first content chunk); *added* is TTFT "
        f"less the stub's {plan.token_delay * 1000:g} ms sleep before the first token, and "
        f"*× floor* compares it with the floor's at the same load and worker count.",
        "",
        *_table(
            [
                "target",
                "sessions",
                "turns",
                "TTFT p50",
                "TTFT p99",
                "added p50",
                "added p99",
                "× floor p50",
                "× floor p99",
                "turns/s",
                "errors",
                CPU_HEADER,
            ],
            rows,
        ),
        "",
    ]


def _throughput_section(plan: Plan, runs: list[LoadRun]) -> list[str]:
    rows = []
    for run in runs:
        floor = find_run(runs, run.target.floor(), run.concurrency)
        ratio = _ratio(run.rate, floor.rate) if floor and run.target.kind == "server" else "—"
        rows.append(
            [
                run.target.label,
                str(run.concurrency),
                f"{run.rate:.1f}",
                ratio,
                _ms(run.latency_ms(50)),
                _ms(run.latency_ms(99)),
                str(run.turns),
                _errors(run),
                _cpu(run),
            ]
        )
    return [
        "## Turns per second",
        "",
        f"The stub answers at once with a one-token reply; every session sends turns back to "
        f"back for {plan.throughput_seconds:g} s (a client moves to a new session after "
        f"{plan.session_turns} turns). A turn's latency runs to its `event: end`.",
        "",
        *_table(
            [
                "target",
                "concurrency",
                "turns/s",
                "× floor",
                "turn p50",
                "turn p99",
                "turns",
                "errors",
                CPU_HEADER,
            ],
            rows,
        ),
        "",
    ]


def _storage_rows(run: StorageRun) -> list[list[str]]:
    rows = []
    for label, sizes in (("as is", run.bytes_as_is), ("after VACUUM FULL", run.bytes_vacuumed)):
        total = sum(sizes.values())
        turn_time = _ms(percentile(run.last_turns, 50) * 1000) if label == "as is" else ""
        rows.append(
            [
                str(run.turns),
                turn_time,
                _size(run.raw_bytes),
                " / ".join(str(run.rows[t]) for t in CHECKPOINT_TABLES),
                label,
                *(_size(sizes[t]) for t in CHECKPOINT_TABLES),
                _size(total),
                f"{total / run.raw_bytes:.1f}×" if run.raw_bytes else "—",
            ]
        )
    return rows


def _storage_section(plan: Plan, runs: list[StorageRun]) -> list[str]:
    rows = [row for run in runs for row in _storage_rows(run)]
    return [
        "## Storage of one session",
        "",
        f"One session alone in a fresh database, served by one worker, after N turns of "
        f"{plan.message_chars}-character messages and replies of about as many. *Raw* is the "
        f"UTF-8 bytes of the user and assistant texts; rows are the session's own "
        f"(`thread_id` = its id); sizes are `pg_total_relation_size` (table, TOAST and indexes), "
        f"measured as the server left them, then again after `VACUUM FULL` of the three tables. "
        f"*Turn time* is the median time of the session's last turns, from sending the message "
        f"to `event: end` (the stub answers without delay).",
        "",
        *_table(
            [
                "turns",
                "turn time",
                "raw",
                "rows: checkpoints / blobs / writes",
                "measured",
                *CHECKPOINT_TABLES,
                "total",
                "× raw",
            ],
            rows,
        ),
        "",
    ]


def _memory_section(memory: list[PeakMemory]) -> list[str]:
    def floor_of(entry: PeakMemory) -> PeakMemory | None:
        return next(
            (m for m in memory if m.target == entry.target.floor() and m.part == entry.part),
            None,
        )

    rows = []
    for entry in memory:
        floor = floor_of(entry)
        ratio = (
            f"{entry.total / floor.total:.1f}×"
            if floor and entry.target.kind == "server" and floor.total
            else "—"
        )
        rows.append(
            [
                entry.target.label,
                entry.part,
                str(len(entry.peak_rss_bytes)),
                _size(entry.total),
                ratio,
                _size(entry.largest),
            ]
        )
    return [
        "## Peak memory",
        "",
        "The resident set high-water mark (`VmHWM` in /proc/<pid>/status) of each server's "
        "processes, read at the end of the part, after all of its loads, and summed (with "
        "`--workers 2` there are four: uvicorn's supervisor, the two workers and "
        "multiprocessing's resource tracker); the largest of them is a worker.",
        "",
        *_table(
            ["server", "part", "processes", "peak RSS, summed", "× floor", "largest process"], rows
        ),
        "",
    ]


# The analysis of the figures, kept by hand beside the code and carried into every report.
WHY = Path(__file__).with_name("why.md")


def render(plan: Plan, machine: Machine, results: Results, setup: list[str]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{plan.command}` on {machine.date}.",
        "",
        f"- machine: {machine.cores} cores (`os.cpu_count()`), {machine.python}",
        f"- PostgreSQL: {machine.postgres}, {machine.postgres_origin}",
        *(f"- {line}" for line in setup),
        "",
    ]
    found = verdicts(results, plan.workers)
    if found:
        lines += [
            "## Targets",
            "",
            *_table(
                ["", "measured", "target", ""],
                [[v.what, v.measured, v.goal, v.mark] for v in found],
            ),
            "",
        ]
        if WHY.exists():
            lines += [WHY.read_text().rstrip(), ""]
    if results.ttft:
        lines += _ttft_section(plan, results.ttft)
    if results.throughput:
        lines += _throughput_section(plan, results.throughput)
    if results.storage:
        lines += _storage_section(plan, results.storage)
    if results.memory:
        lines += _memory_section(results.memory)
    if results.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in results.notes), ""]
    return "\n".join(lines)
