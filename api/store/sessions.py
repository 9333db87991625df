"""The sessions table: which sessions exist, whose they are, and their metadata."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from api.store.database import Pool
from api.store.lock_keys import LOCK_HELD

# "Is session `key` the caller's?", as the session locks ask it inside their lock statement
# (`SessionLocks(owned=...)`). `owner` is '' for everyone while the API is open; every statement
# below asks the same with `owner = %(owner)s` on the row it reads.
OWNED = "EXISTS (SELECT 1 FROM chat_sessions WHERE id = %(key)s::uuid AND owner = %(owner)s)"

# Null until the session's first turn (or state written by hand) is saved.
_HAS_TURN = "latest_checkpoint_id IS NOT NULL AS has_turn"
_COLUMNS = f"id, created_at, updated_at, metadata, {_HAS_TURN}"
# A turn changes the session too: its latest checkpoint says when, so a turn writes nothing here.
_UPDATED_AT = (
    "greatest(updated_at, (SELECT max((c.checkpoint ->> 'ts')::timestamptz) FROM checkpoints c"
    " WHERE c.thread_id = chat_sessions.id::text AND c.checkpoint_ns = ''))"
)
_BUSY = LOCK_HELD.format(key="id::text")
_READ = f"id, created_at, {_UPDATED_AT} AS updated_at, metadata, {_HAS_TURN}, {_BUSY} AS busy"

SortKey = Literal["created_at", "updated_at", "thread_id"]
_SORT_COLUMNS: dict[str, str] = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "thread_id": "id",
}


@dataclass(frozen=True)
class Session:
    id: UUID
    created_at: datetime
    updated_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    busy: bool = False
    # Whether a turn of it has been saved (or a state written by hand): a session only created
    # has none.
    has_turn: bool = False


@dataclass(frozen=True)
class SessionQuery:
    """Which sessions to find: those whose metadata holds `contains`. The metadata of a session
    with a turn saved is laid over `defaults`; a session without one has its own only."""

    contains: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    ids: Sequence[UUID] | None = None
    busy: bool | None = None
    limit: int = 10
    offset: int = 0
    sort_by: SortKey = "created_at"
    descending: bool = True


def _session(row: DictRow) -> Session:
    return Session(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row.get("updated_at"),
        metadata=row.get("metadata") or {},
        busy=bool(row.get("busy", False)),
        has_turn=bool(row.get("has_turn", False)),
    )


class Sessions:
    """The sessions that exist, and whose they are: the conversations live in the checkpointer."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def _one(self, query: str, params: dict[str, Any]) -> Session | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        return None if row is None else _session(row)

    async def create(
        self,
        owner: str = "",
        *,
        session_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session | None:
        """A new session; None if one with `session_id` exists already (whoever owns it)."""
        return await self._one(
            "INSERT INTO chat_sessions (id, owner, metadata) VALUES (%(id)s, %(owner)s, %(meta)s)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}",
            {"id": session_id or uuid4(), "owner": owner, "meta": Jsonb(metadata or {})},
        )

    async def get(self, session_id: UUID, owner: str = "") -> Session | None:
        return await self._one(
            f"SELECT {_COLUMNS} FROM chat_sessions WHERE id = %(id)s AND owner = %(owner)s",
            {"id": session_id, "owner": owner},
        )

    async def describe(self, session_id: UUID, owner: str = "") -> Session | None:
        """The session with when its conversation last changed and whether a turn runs on it."""
        return await self._one(
            f"SELECT {_READ} FROM chat_sessions WHERE id = %(id)s AND owner = %(owner)s",
            {"id": session_id, "owner": owner},
        )

    async def update_metadata(
        self, session_id: UUID, owner: str, metadata: dict[str, Any]
    ) -> Session | None:
        """Merges `metadata` into the session's (a key set to null stays, as null)."""
        return await self._one(
            "UPDATE chat_sessions SET metadata = metadata || %(meta)s, updated_at = now()"
            f" WHERE id = %(id)s AND owner = %(owner)s RETURNING {_COLUMNS}",
            {"id": session_id, "owner": owner, "meta": Jsonb(metadata)},
        )

    async def delete(self, session_id: UUID, owner: str = "") -> bool:
        """Deletes the session's row; False if the owner has no such session."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM chat_sessions WHERE id = %s AND owner = %s", (session_id, owner)
            )
            return cur.rowcount == 1

    async def delete_any(self, session_id: UUID) -> None:
        """Deletes the session's row, whoever owns it."""
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM chat_sessions WHERE id = %s", (session_id,))

    async def page(self, owner: str, limit: int, after: Session | None = None) -> list[Session]:
        """The owner's sessions, newest first: up to `limit` of those that come after `after`."""
        # The row comparison walks the (owner, created_at DESC, id DESC) index from `after` on.
        query = f"SELECT {_COLUMNS} FROM chat_sessions WHERE owner = %(owner)s"
        params: dict[str, Any] = {"owner": owner, "limit": limit}
        if after is not None:
            query += " AND (created_at, id) < (%(at)s, %(id)s)"
            params |= {"at": after.created_at, "id": after.id}
        query += " ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            return [_session(row) for row in await cur.fetchall()]

    async def search(self, owner: str, query: SessionQuery) -> tuple[list[Session], int]:
        """A page of the owner's sessions that match `query`, and how many match in all."""
        contains, limit, offset = query.contains, query.limit, query.offset
        where = ["owner = %(owner)s"]
        params: dict[str, Any] = {"owner": owner, "limit": limit, "offset": offset}
        if contains:
            where.append(
                "(CASE WHEN latest_checkpoint_id IS NULL THEN '{}'::jsonb"
                " ELSE %(defaults)s::jsonb END || metadata) @> %(contains)s::jsonb"
            )
            params |= {"defaults": Jsonb(query.defaults), "contains": Jsonb(contains)}
        if query.ids is not None:
            where.append("id = ANY(%(ids)s)")
            params["ids"] = list(query.ids)
        if query.busy is not None:
            where.append(_BUSY if query.busy else f"NOT {_BUSY}")
        direction = "DESC" if query.descending else "ASC"
        statement = (
            f"SELECT {_READ}, count(*) OVER () AS total FROM chat_sessions"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY {_SORT_COLUMNS[query.sort_by]} {direction}, id {direction}"
            " LIMIT %(limit)s OFFSET %(offset)s"
        )
        async with self._pool.connection() as conn:
            cur = await conn.execute(statement, params)
            rows = await cur.fetchall()
            if rows:
                return [_session(row) for row in rows], int(rows[0]["total"])
            if offset == 0:
                return [], 0
            # Past the end: the window count has no row to ride on.
            count = await conn.execute(
                f"SELECT count(*) AS total FROM chat_sessions WHERE {' AND '.join(where)}",
                params,
            )
            row = await count.fetchone()
            return [], 0 if row is None else int(row["total"])
