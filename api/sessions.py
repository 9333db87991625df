from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from api.database import Pool

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS chat_sessions (
        id uuid PRIMARY KEY,
        owner text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE INDEX IF NOT EXISTS chat_sessions_owner_created
        ON chat_sessions (owner, created_at DESC, id DESC)""",
)


@dataclass(frozen=True)
class Session:
    id: UUID
    created_at: datetime


class Sessions:
    """The sessions that exist, and whose they are: the conversations live in the checkpointer."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, owner: str = "") -> Session:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO chat_sessions (id, owner) VALUES (%s, %s) RETURNING id, created_at",
                (uuid4(), owner),
            )
            row = await cur.fetchone()
        assert row is not None
        return Session(id=row["id"], created_at=row["created_at"])

    async def exists(self, session_id: UUID, owner: str = "") -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM chat_sessions WHERE id = %s AND owner = %s", (session_id, owner)
            )
            return await cur.fetchone() is not None
