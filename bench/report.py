"""The report: Markdown tables of a run's figures, the chat server's beside the baseline's and
as a ratio of the two, its targets, and the machine it ran on."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.markdown import (
    KIND_ORDER,
    VERSUS,
    Column,
    Group,
    T,
    Value,
    byte_size,
    figure_rows,
    group_table,
    table,
)
from bench.plan import TOKEN_CONCURRENCY, Plan
from bench.results import (
    Halves,
    Kind,
    LoadRun,
    PeakMemory,
    Results,
    Span,
    StateReads,
    StorageRun,
    Target,
    ratio,
)
from bench.storage import STATE_READS, TIMED, halfway, windows
from bench.targets import Figures, show, verdicts


@dataclass(frozen=True)
class Machine:
    cores: int
    python: str
    date: str

    @classmethod
    def here(cls) -> Machine:
        return cls(
            cores=os.cpu_count() or 0,
            python=f"{platform.python_implementation()} {platform.python_version()}",
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )


def _load_groups(results: Results, load: str) -> list[Group[LoadRun]]:
    """One group per worker count and concurrency, each target's rounds merged; the stub
    alone with the first worker count."""
    runs = results.loads.get(load, [])
    keys = sorted({(r.target.workers, r.concurrency) for r in runs if r.target.kind != "stub"})
    groups: list[Group[LoadRun]] = []
    for workers, concurrency in keys:
        subjects = {}
        for kind in KIND_ORDER:
            stub = kind == "stub"
            if stub and workers != keys[0][0]:
                continue
            if found := results.run(load, Target(kind, 1 if stub else workers), concurrency):
                subjects[kind] = found
        groups.append((str(concurrency), subjects))
    return groups


def _errors(run: LoadRun) -> str:
    if run.warmup_errors:
        return f"{run.errors} (+{run.warmup_errors} in warm-up)"
    return str(run.errors)


def _others(run: LoadRun) -> str:
    cpu = run.cpu
    values = (cpu.stub, cpu.client, cpu.other)
    text = " / ".join("—" if math.isnan(v) else f"{v:.2f}" for v in values)
    split = cpu.target_split()
    return f"{text} (server: {split})" if split else text


def _cpu_columns() -> list[Column[LoadRun]]:
    return [
        Column("server CPU, cores", lambda r: r.cpu.target),
        Column("server CPU per turn", lambda r: r.cpu_ms_per_turn, "ms"),
        Column("PostgreSQL, cores", lambda r: r.cpu.database),
        Column("stub / client / other, cores", _others, compared=False),
    ]


def _floor_ratio(
    results: Results, load: str, figure: Callable[[LoadRun], float]
) -> Callable[[LoadRun], Value]:
    def value(run: LoadRun) -> Value:
        if run.target.kind in ("stub", "floor"):
            return "—"
        floor = results.run(load, run.target.floor(), run.concurrency)
        return ratio(figure(run), figure(floor)) if floor else math.nan

    return value


def _ttft_section(plan: Plan, results: Results) -> list[str]:
    def added(q: float) -> Callable[[LoadRun], float]:
        return lambda run: run.added_ttft_ms(q)

    columns: list[Column[LoadRun]] = [
        Column("turns", lambda r: r.turns, "n", compared=False),
        Column("TTFT p50", lambda r: r.ttft_ms(50), "ms"),
        Column("TTFT p99", lambda r: r.ttft_ms(99), "ms"),
        Column("added p50", added(50), "ms"),
        Column("added p99", added(99), "ms"),
        Column("× floor p50", _floor_ratio(results, "ttft", added(50)), "×", compared=False),
        Column("× floor p99", _floor_ratio(results, "ttft", added(99)), "×", compared=False),
        Column("turns/s", lambda r: r.rate),
        Column("errors", _errors, compared=False),
        *_cpu_columns(),
    ]
    delay = plan.token_delay * 1000
    return [
        "## Time to first token",
        "",
        f"The stub sleeps {delay:g} ms before each of the {plan.reply_tokens} tokens of its "
        f"reply; every session sends turns of {plan.message_chars} characters back to back "
        f"(a client moves to a new session after {plan.session_turns} turns), for "
        f"{plan.ttft_seconds:g} s per target and round. TTFT is from sending `POST /chat/{{id}}` "
        f"to the first `event: token` (for the stub alone: to the first content chunk); *added* "
        f"is TTFT less the stub's {delay:g} ms sleep before the first token; *× floor* compares "
        f"it with the floor's at the same load and worker count.",
        "",
        *table(
            ["target", "sessions", *(c.header for c in columns)],
            figure_rows(_load_groups(results, "ttft"), columns),
        ),
    ]


def _throughput_columns(results: Results) -> list[Column[LoadRun]]:
    def rate(run: LoadRun) -> float:
        return run.rate

    return [
        Column("turns/s", rate),
        Column("× floor", _floor_ratio(results, "throughput", rate), "×", compared=False),
        Column("turn p50", lambda r: r.latency_ms(50), "ms"),
        Column("turn p99", lambda r: r.latency_ms(99), "ms"),
        Column("turns", lambda r: r.turns, "n", compared=False),
        Column("errors", _errors, compared=False),
        *_cpu_columns(),
    ]


def _per_token(plan: Plan, results: Results) -> list[str]:
    figures = Figures(results, plan)
    server, baseline, floor = (figures.cpu_per_token(k) for k in ("server", "baseline", "floor"))
    if math.isnan(server):
        return []
    return [
        f"Server CPU per streamed token: (CPU per turn of the TTFT load, {plan.reply_tokens} "
        f"tokens {plan.token_delay * 1000:g} ms apart − CPU per one-token turn) / "
        f"{plan.reply_tokens - 1}, both with one worker at concurrency {TOKEN_CONCURRENCY}, "
        f"where both loads keep the server busy: chat-server {show(server, 'ms')}, baseline "
        f"{show(baseline, 'ms')} ({show(ratio(server, baseline), '×')}), floor "
        f"{show(floor, 'ms')}.",
        "",
    ]


def _throughput_section(plan: Plan, results: Results) -> list[str]:
    lines = [
        "## Turns per second",
        "",
        f"The stub answers at once with a one-token reply; every session sends turns back to "
        f"back (a client moves to a new session after {plan.session_turns} turns), for "
        f"{plan.throughput_seconds:g} s per target and round. A turn's latency runs to its "
        f"`event: end`. *Server CPU per turn* is the CPU time of the server's processes over the "
        f"measured window (from /proc), divided by the turns in it.",
        "",
    ]
    columns = _throughput_columns(results)
    header = ["target", "concurrency", *(c.header for c in columns)]
    lines += table(header, figure_rows(_load_groups(results, "throughput"), columns))
    return lines + _per_token(plan, results)


def _history(run: StorageRun) -> str:
    if run.history is None:
        return ""
    return f"{run.history}, in {run.history_seconds * 1000:.0f} ms"


def _storage_columns() -> list[Column[StorageRun]]:
    def times(
        sizes: Callable[[StorageRun], dict[str, int] | None],
    ) -> Callable[[StorageRun], Value]:
        return lambda run: run.times_raw(found) if (found := sizes(run)) else ""

    def vacuumed(run: StorageRun) -> Value:
        return sum(run.bytes_vacuumed.values()) if run.bytes_vacuumed else ""

    def full_pages(run: StorageRun) -> float:
        return run.window.wal_per_turn(full_pages=True) - run.window.wal_per_turn()

    return [
        Column("turn time", lambda run: run.window.turn_ms, "ms"),
        Column("server CPU per turn", lambda run: run.window.cpu_ms_per_turn, "ms"),
        Column("WAL per turn", lambda run: run.window.wal_per_turn(), "size"),
        Column("+ full-page images", full_pages, "size"),
        Column("raw", lambda run: run.raw_bytes, "size"),
        Column("rows", lambda run: sum(run.rows.values()), "n"),
        Column("tables as left", lambda run: sum(run.bytes_as_left.values()), "size"),
        Column("as left × raw", times(lambda run: run.bytes_as_left), "×"),
        Column("live (after VACUUM FULL)", vacuumed, "size"),
        Column("live × raw", times(lambda run: run.bytes_vacuumed), "×"),
        Column("history read back", _history, compared=False),
    ]


def _tables_breakdown(runs: list[StorageRun]) -> list[list[str]]:
    rows = []
    for run in runs:
        for name, as_left in run.bytes_as_left.items():
            vacuumed = run.bytes_vacuumed.get(name, 0) if run.bytes_vacuumed else math.nan
            rows.append(
                [
                    run.target.label,
                    name,
                    str(run.rows.get(name, 0)),
                    byte_size(as_left),
                    byte_size(vacuumed),
                ]
            )
    return rows


def _halves_columns(plan: Plan) -> list[Column[Halves]]:
    half, last = halfway(plan), plan.storage_turns[-1]
    first, second = f"{1}–{half}", f"{half + 1}–{last}"

    def both(header: str, figure: Callable[[Span], float], growth: bool) -> list[Column[Halves]]:
        columns: list[Column[Halves]] = [
            Column(f"{header}, turns {first}", lambda h: figure(h.first), "B"),
            Column(f"{header}, turns {second}", lambda h: figure(h.second), "B"),
        ]
        if growth:
            columns.append(
                Column(
                    f"{header}: {second} ÷ {first}",
                    lambda h: ratio(figure(h.second), figure(h.first)),
                    "×",
                    compared=False,
                )
            )
        return columns

    return [
        *both("raw per turn", lambda s: s.per_turn(s.raw_bytes), False),
        *both("live per turn", lambda s: s.per_turn(s.live_bytes), True),
        *both("live beyond raw, per turn", lambda s: s.per_turn(s.live_bytes - s.raw_bytes), False),
        *both("WAL per turn", lambda s: s.wal_per_turn(), True),
        *both("+ full-page images", lambda s: s.wal_per_turn(True) - s.wal_per_turn(), False),
    ]


def _explained_table(
    text: str, turns: int, subjects: list[T], columns: list[Column[T]]
) -> list[str]:
    """A paragraph, then a table of a row per target after `turns` turns."""
    by_kind = {subject.target.kind: subject for subject in subjects}
    return [text, "", *group_table("turns", str(turns), by_kind, columns)]


def _halves_section(plan: Plan, results: Results) -> list[str]:
    half, last = halfway(plan), plan.storage_turns[-1]
    return _explained_table(
        f"The same conversation's two halves, turns 1–{half} and {half + 1}–{last}. *Live* is "
        f"what the tables of the server's database grew by over the half, heap, TOAST and "
        f"indexes after `VACUUM FULL`: read at the start (once the session was created), after "
        f"turn {half} and after turn {last}; at the start and after turn {half}, of a copy of "
        f"the database (`CREATE DATABASE ... TEMPLATE`) made while the server was down for a "
        f"moment and started again, so that the tables as left above are the server's own. "
        f"*Live beyond raw* is that less the UTF-8 bytes of the half's user and assistant "
        f"texts. *WAL* is as above, over every turn of the half (a temporary replication slot "
        f"holds it until it is read).",
        last,
        results.halves,
        _halves_columns(plan),
    )


def _spread(seconds: list[float]) -> str:
    if not seconds:
        return ""
    return f"{min(seconds) * 1000:.1f}–{max(seconds) * 1000:.1f} ms"


def _reads_columns(plan: Plan) -> list[Column[StateReads]]:
    half = halfway(plan)

    def back(reads: StateReads) -> Value:
        return reads.back_refused or reads.back_ms

    def versus_head(reads: StateReads) -> Value:
        return "" if reads.back_refused else ratio(reads.back_ms, reads.head_ms)

    return [
        Column("reads of each", lambda r: len(r.head_seconds), "n", compared=False),
        Column("head, p50", lambda r: r.head_ms, "ms"),
        Column("head, fastest–slowest", lambda r: _spread(r.head_seconds), compared=False),
        Column(f"after turn {half}, p50", back, "ms"),
        Column(
            f"after turn {half}, fastest–slowest", lambda r: _spread(r.back_seconds), compared=False
        ),
        Column(f"after turn {half} ÷ head", versus_head, "×", compared=False),
    ]


def _reads_section(plan: Plan, results: Results) -> list[str]:
    half, last = halfway(plan), plan.storage_turns[-1]
    return _explained_table(
        f"The session's state read back after its {last} turns: its head (`GET "
        f"/threads/{{id}}/state`) and its state after turn {half}, {last - half} turns back (`GET "
        f"/threads/{{id}}/state/{{checkpoint_id}}`, the id as `GET /threads/{{id}}/state` gave "
        f"it after turn {half}). Each read is the first of that session by a server process "
        f"just started on the database, so that nothing of the session is in its memory; "
        f"before it, the process reads both states of a session of two turns apart, so that "
        f"the timed read is not its first of the kind. {STATE_READS} reads of each, the servers "
        f"and the two reads alternating; timed by the client, from sending the request to the "
        f"whole response. A state that is not given back is asked for once.",
        last,
        results.reads,
        _reads_columns(plan),
    )


def _storage_section(plan: Plan, results: Results) -> list[str]:
    groups: list[Group[StorageRun]] = []
    for first, last in windows(plan):
        subjects = {r.target.kind: r for r in results.storage if r.turns == last}
        groups.append((f"{last} (window: turns {first}–{last})", subjects))
    last = plan.storage_turns[-1]
    final = [r for r in results.storage if r.turns == last]
    columns = _storage_columns()
    return [
        "## One long conversation",
        "",
        f"Each server, with one worker and MAX_CONTEXT_TOKENS={plan.max_context_tokens}, holds "
        f"one session alone in a database of its own; the servers take turns, one turn at a "
        f"time, with the same {plan.message_chars}-character messages, and replies of about as "
        f"many characters sent at once, except in the windows of turns before each length: "
        f"there the reply is {TIMED.reply_tokens} token, so that a turn's time is the turn's. "
        f"*Turn time* is the median of the window's turns, from sending the message to "
        f"`event: end`; *server CPU* is the server process's over the window; *WAL* is what "
        f"PostgreSQL wrote for the server's database over the window (pg_walinspect: the "
        f"records of its relations and of the transactions that wrote them), full-page images "
        f"apart, as they depend on when PostgreSQL last checkpointed. *Raw* is the UTF-8 bytes "
        f"of the user and assistant texts; *rows* and sizes count every table of the server's "
        f"database but its schema-version tables, sizes being `pg_total_relation_size` (heap, "
        f"TOAST and indexes) as the server left them, then, after the last turn, after "
        f"`VACUUM FULL`, when GET /chat/{{id}} has read the conversation back.",
        "",
        *table(["target", "turns", *(c.header for c in columns)], figure_rows(groups, columns)),
        f"Tables after {last} turns:",
        "",
        *table(
            ["target", "table", "rows", "as left", "after VACUUM FULL"], _tables_breakdown(final)
        ),
        *(_halves_section(plan, results) if results.halves else []),
        *(_reads_section(plan, results) if results.reads else []),
    ]


def _memory_section(results: Results) -> list[str]:
    by_part: dict[tuple[str, int], dict[Kind, PeakMemory]] = {}
    for entry in results.memory:
        by_part.setdefault((entry.part, entry.target.workers), {})[entry.target.kind] = entry

    def floor_ratio(entry: PeakMemory) -> Value:
        floor = by_part[(entry.part, entry.target.workers)].get("floor")
        if entry.target.kind == "floor" or floor is None:
            return "—"
        return ratio(entry.total, floor.total)

    columns: list[Column[PeakMemory]] = [
        Column("processes", lambda m: len(m.peak_rss_bytes), "n", compared=False),
        Column("peak RSS, summed", lambda m: m.total, "size"),
        Column("× floor", floor_ratio, "×", compared=False),
        Column("largest process", lambda m: m.largest, "size"),
    ]
    rows = figure_rows([(part, subjects) for (part, _), subjects in by_part.items()], columns)
    return [
        "## Peak memory",
        "",
        "The resident set high-water mark (`VmHWM` in /proc/<pid>/status) of each server's "
        "processes, read after all of its loads, and summed (with `--workers 2` there are four: "
        "uvicorn's supervisor, the two workers and multiprocessing's resource tracker)."
        + (
            " In the storage part, where the server is started again at the start and halfway, "
            "the highest of the processes that served the conversation."
            if results.halves
            else ""
        ),
        "",
        *table(["server", "part", *(c.header for c in columns)], rows),
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
        *(f"- {line}" for line in setup),
        "",
    ]
    found = verdicts(results, plan)
    if found:
        rows = [[v.what, v.current, v.baseline, v.ratio, v.goal, v.mark] for v in found]
        lines += [
            "## Targets",
            "",
            *table(["", "chat-server", "baseline", VERSUS, "target", ""], rows),
        ]
        if WHY.exists():
            lines += [WHY.read_text().rstrip(), ""]
    if "ttft" in results.loads:
        lines += _ttft_section(plan, results)
    if "throughput" in results.loads:
        lines += _throughput_section(plan, results)
    if results.storage:
        lines += _storage_section(plan, results)
    if results.memory:
        lines += _memory_section(results)
    if results.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in results.notes), ""]
    return "\n".join(lines)
