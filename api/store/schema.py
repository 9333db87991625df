from __future__ import annotations

import asyncio

from api.store.database import Pool
from api.store.saver import PooledPostgresSaver

# Append-only, like the checkpointer's own MIGRATIONS: step N runs once, on a database at
# version N. The first steps are idempotent because databases made before this list existed
# have the table without a record of it.
MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS chat_sessions (
        id uuid PRIMARY KEY,
        owner text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE INDEX IF NOT EXISTS chat_sessions_owner_created
        ON chat_sessions (owner, created_at DESC, id DESC)""",
    "ALTER TABLE chat_sessions ADD COLUMN IF NOT EXISTS metadata jsonb NOT NULL DEFAULT '{}'",
    """ALTER TABLE chat_sessions
        ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT clock_timestamp()""",
    # Created the function `chat_latest_checkpoint`, which the checkpointer's own setup() now
    # creates (api/store/saver.py). A no-op kept in its place: step numbers stay the same on
    # every database.
    "SELECT 1",
    # The id of the session's latest checkpoint, which every turn's save moves forward as a
    # compare-and-set (api/store/turn_save.py): the fence between two turns of a session.
    "ALTER TABLE chat_sessions ADD COLUMN IF NOT EXISTS latest_checkpoint_id text",
    # Sessions from before the column: their latest checkpoint, as the checkpointer orders them.
    """DO $$ BEGIN
        IF to_regclass('checkpoints') IS NOT NULL THEN
            UPDATE chat_sessions s SET latest_checkpoint_id = (
                SELECT max(c.checkpoint_id) FROM checkpoints c
                WHERE c.thread_id = s.id::text AND c.checkpoint_ns = ''
            );
        END IF;
    END $$""",
    # The session lock's reading of it, with a snapshot of its own: a VOLATILE function's query
    # sees what committed before it starts, not before the calling statement did (PostgreSQL's
    # "Function Volatility Categories"), so a lock statement that calls it once the lock is held
    # sees the turn another process saved just before it let the lock go.
    """CREATE OR REPLACE FUNCTION chat_session_latest_checkpoint(session text) RETURNS text
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE latest text;
        BEGIN
            SELECT latest_checkpoint_id INTO latest FROM chat_sessions WHERE id = session::uuid;
            RETURN latest;
        END $$""",
)

# Any constant works: it only keeps two starting processes from migrating at once.
_SCHEMA_LOCK_KEY = 0x63686174


# How long a starting process waits before it asks again for the schema lock.
_SCHEMA_RETRY_SECONDS = 0.1


async def prepare_schema(pool: Pool, saver: PooledPostgresSaver) -> None:
    """Brings the sessions table and the checkpointer's tables up to date, one process at a time.

    The lock is polled rather than waited for in a statement: the checkpointer's migrations
    create indexes CONCURRENTLY, which waits for every open transaction, and a statement waiting
    for this lock in another process is one, so the two would wait for each other forever.
    """
    async with pool.connection() as conn:
        while True:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(%s) AS locked", (_SCHEMA_LOCK_KEY,)
            )
            row = await cur.fetchone()
            if row is not None and row["locked"]:
                break
            await asyncio.sleep(_SCHEMA_RETRY_SECONDS)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS chat_migrations (v integer PRIMARY KEY)")
            cur = await conn.execute("SELECT coalesce(max(v), -1) AS v FROM chat_migrations")
            row = await cur.fetchone()
            done = -1 if row is None else int(row["v"])
            for version in range(done + 1, len(MIGRATIONS)):
                async with conn.transaction():
                    await conn.execute(MIGRATIONS[version])
                    await conn.execute("INSERT INTO chat_migrations (v) VALUES (%s)", (version,))
            await saver.setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_KEY,))
