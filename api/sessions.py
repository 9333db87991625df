from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

# A cursor is the microseconds of created_at since the epoch, then the 16 bytes of the id.
_CURSOR = struct.Struct(">q16s")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    async def delete(self, session_id: UUID, owner: str = "") -> bool:
        """Deletes the session's row; False if the owner has no such session."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM chat_sessions WHERE id = %s AND owner = %s", (session_id, owner)
            )
            return cur.rowcount == 1

    async def page(self, owner: str, limit: int, after: Session | None = None) -> list[Session]:
        """The owner's sessions, newest first: up to `limit` of those that come after `after`."""
        # The row comparison walks the (owner, created_at DESC, id DESC) index from `after` on.
        query = "SELECT id, created_at FROM chat_sessions WHERE owner = %s"
        params: list[object] = [owner]
        if after is not None:
            query += " AND (created_at, id) < (%s, %s)"
            params += [after.created_at, after.id]
        query += " ORDER BY created_at DESC, id DESC LIMIT %s"
        params.append(limit)
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        return [Session(id=row["id"], created_at=row["created_at"]) for row in rows]


def encode_cursor(session: Session) -> str:
    """An opaque cursor that points just past `session` in the newest-first order."""
    micros = (session.created_at - _EPOCH) // timedelta(microseconds=1)
    raw = _CURSOR.pack(micros, session.id.bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Session:
    """The session a cursor points past; ValueError if it is not a cursor `encode_cursor` made."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        micros, id_bytes = _CURSOR.unpack(raw)
        return Session(id=UUID(bytes=id_bytes), created_at=_EPOCH + timedelta(microseconds=micros))
    except (ValueError, struct.error, OverflowError) as error:
        raise ValueError("malformed cursor") from error
