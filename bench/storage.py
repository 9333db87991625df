"""The storage part: what one session's checkpoints take in PostgreSQL after N turns."""

from __future__ import annotations

import psycopg

from bench.driver import Load, drive
from bench.load import LoadResult
from bench.parts import Setting, progress
from bench.plan import Plan
from bench.postgres import backend_pids, throwaway_database
from bench.processes import chat_server, openai_stub
from bench.results import CHECKPOINT_TABLES, PeakMemory, Results, StorageRun, Target
from tests.openai_stub import fixed_reply

STORAGE_POOL_SIZE = 4
# The turn time reported is the median of this many last turns of the session.
LAST_TURNS = 10


def reply_tokens_for(chars: int) -> int:
    """The number of stub tokens whose reply comes closest to `chars` characters."""
    return min(range(1, chars + 1), key=lambda n: abs(len(fixed_reply(n)) - chars))


def _sizes(conn: psycopg.Connection) -> dict[str, int]:
    sizes = {}
    for table in CHECKPOINT_TABLES:
        row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()
        assert row is not None
        sizes[table] = int(row[0])
    return sizes


def measure(database_url: str, session: str, outcome: LoadResult) -> StorageRun:
    """Rows of the session and sizes of the tables, as they are and after VACUUM FULL."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = {}
        for table in CHECKPOINT_TABLES:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE thread_id = %s", (session,)
            ).fetchone()
            assert row is not None
            rows[table] = int(row[0])
        as_is = _sizes(conn)
        for table in CHECKPOINT_TABLES:
            conn.execute(f"VACUUM FULL {table}")
        vacuumed = _sizes(conn)
    return StorageRun(
        turns=len(outcome.latency),
        message_bytes=outcome.message_bytes,
        reply_bytes=outcome.reply_bytes,
        rows=rows,
        bytes_as_is=as_is,
        bytes_vacuumed=vacuumed,
        last_turns=outcome.latency[-LAST_TURNS:],
    )


def storage_part(plan: Plan, setting: Setting, results: Results) -> None:
    """For each turn count, one session alone in a fresh database, served by one worker."""
    reply_tokens = reply_tokens_for(plan.message_chars)
    target = Target("server", 1)
    with openai_stub(setting.workdir, delay=0.0, reply_tokens=reply_tokens) as stub:
        for turns in plan.storage_turns:
            with throwaway_database(setting.postgres, f"_s{turns}") as url:
                with chat_server(
                    setting.workdir,
                    stub_url=stub.url,
                    database_url=url,
                    workers=1,
                    pool_size=STORAGE_POOL_SIZE,
                    backends=lambda url=url: backend_pids(url),
                ) as server:
                    load = Load(
                        "chat",
                        concurrency=1,
                        duration=plan.storage_seconds,
                        max_turns=turns,
                        warmup_turns=0,
                        session_turns=turns,
                        message_chars=plan.message_chars,
                    )
                    outcome, _ = drive(server, stub, load, setting.workdir)
                    results.memory.append(
                        PeakMemory(target, f"storage {turns}", server.peak_rss_bytes())
                    )
                if outcome.errors:
                    results.notes.append(
                        f"storage, {turns} turns: {outcome.errors} turns failed, e.g. "
                        f"{outcome.error_examples[0]}"
                    )
                run = measure(url, outcome.sessions[0], outcome)
            results.storage.append(run)
            progress(
                f"storage    {run.turns} turns: raw {run.raw_bytes} B, rows {run.rows}, "
                f"as is {sum(run.bytes_as_is.values())} B, "
                f"after VACUUM FULL {sum(run.bytes_vacuumed.values())} B"
            )
