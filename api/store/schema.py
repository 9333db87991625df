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
    # Checkpoints written with upstream's channel versions (51 characters: a 32-digit counter
    # and a random float) given the checkpointer's compact ones (api/store/saver.py
    # `get_next_version`: the counter in 10 digits and 12 hex digits of the old version's md5,
    # so the same version maps alike everywhere and stays unique): about 200 bytes less a row.
    # One pass over every checkpoint and blob, once.
    """DO $$ BEGIN
        IF to_regclass('checkpoints') IS NOT NULL THEN
            CREATE FUNCTION pg_temp.compact(v jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $f$
                SELECT CASE WHEN jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^0{22}[0-9]{10}[.]'
                    THEN to_jsonb(lpad(split_part(v #>> '{}', '.', 1)::numeric::text, 10, '0')
                        || '.' || left(md5(v #>> '{}'), 12))
                    ELSE v END
            $f$;
            CREATE FUNCTION pg_temp.compact_all(versions jsonb) RETURNS jsonb
                LANGUAGE sql IMMUTABLE AS $f$
                SELECT coalesce(jsonb_object_agg(key, pg_temp.compact(value)), '{}')
                FROM jsonb_each(versions)
            $f$;
            UPDATE checkpoints SET checkpoint = jsonb_set(jsonb_set(checkpoint,
                '{channel_versions}', pg_temp.compact_all(checkpoint -> 'channel_versions')),
                '{versions_seen}', (
                    SELECT coalesce(jsonb_object_agg(node, pg_temp.compact_all(seen)), '{}')
                    FROM jsonb_each(checkpoint -> 'versions_seen') AS s(node, seen)
                ))
            WHERE checkpoint -> 'channel_versions' IS NOT NULL;
            UPDATE checkpoint_blobs SET version = pg_temp.compact(to_jsonb(version)) #>> '{}'
            WHERE version ~ '^0{22}[0-9]{10}[.]';
            DROP FUNCTION pg_temp.compact_all(jsonb);
            DROP FUNCTION pg_temp.compact(jsonb);
        END IF;
    END $$""",
    # A thread's protocol events (api/store/thread_events.py). `events_seq` is the last seq a
    # session's events were given: the counter survives the pruning of the events themselves,
    # and the row lock of its UPDATE orders the appends of a session in commit order.
    "ALTER TABLE chat_sessions ADD COLUMN IF NOT EXISTS events_seq bigint NOT NULL DEFAULT 0",
    """CREATE TABLE IF NOT EXISTS chat_thread_events (
        thread_id uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        run_id text NOT NULL,
        method text NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (thread_id, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS chat_thread_events_created ON chat_thread_events (created_at)",
    # A thread's runs (api/store/runs.py): every turn is one, whichever door started it. A run
    # still `pending`/`running` whose lease its process stopped renewing is dead; `ended` says
    # whether its last lifecycle event is recorded. `turn_event`: which of its turn's events a
    # protocol event came from, so a run's stream resumes by it (Last-Event-ID).
    """CREATE TABLE IF NOT EXISTS chat_runs (
        run_id text PRIMARY KEY,
        thread_id uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
        status text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        lease_until timestamptz NOT NULL,
        ended boolean NOT NULL DEFAULT false,
        metadata jsonb NOT NULL DEFAULT '{}',
        kwargs jsonb NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS chat_runs_thread ON chat_runs (thread_id, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS chat_runs_open ON chat_runs (lease_until) WHERE NOT ended",
    "ALTER TABLE chat_thread_events ADD COLUMN IF NOT EXISTS turn_event integer",
    # The backend holding a running run's session lock: a run found dead has its lock ended.
    "ALTER TABLE chat_runs ADD COLUMN IF NOT EXISTS lock_holder integer",
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
