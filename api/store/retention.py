"""What a session keeps of its history: every checkpoint by default, or its last turns only,
and full copies of the conversation thinned so that what they take stays linear.

A checkpoint of the conversation holds only its own turn's messages (LangGraph's DeltaChannel);
its whole state is rebuilt from the nearest full copy among its ancestors and the turns since.
LangGraph writes such a copy every so many turns and where a run forks. Kept for good, copies
add up quadratically (each is the whole conversation so far), so along a branch only the newest
one is kept: an older one goes once a newer copy is its descendant and no other branch leaves
the path between them. A state older than the newest copy is then rebuilt by a longer replay
(from an older copy, or from the start), which is still exact: a copy is dropped with the marker
that says it is there, so the rebuild walks past it.

With a number of turns to keep, the checkpoints of the head's path older than that (and older
than a full copy that the kept ones rebuild from) go too, except where another branch still
needs them: a branch's ancestors are never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import DictRow

# The head's path back to the thread's first checkpoint, newest first: each checkpoint with its
# depth, how many turns (input checkpoints) from the head it is, whether it holds a full copy of
# every delta channel, and whether a checkpoint off the path has it as its parent.
_PATH_SQL = """
WITH RECURSIVE path AS (
    SELECT checkpoint_id, parent_checkpoint_id, 0 AS depth,
        (metadata ->> 'source' = 'input')::int AS turns,
        checkpoint -> 'channel_values' ?& %(channels)s AS copy,
        checkpoint -> 'channel_versions' AS versions
    FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id = %(head)s
    UNION ALL
    SELECT c.checkpoint_id, c.parent_checkpoint_id, path.depth + 1,
        path.turns + (c.metadata ->> 'source' = 'input')::int,
        c.checkpoint -> 'channel_values' ?& %(channels)s,
        c.checkpoint -> 'channel_versions'
    FROM path JOIN checkpoints c
    ON c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
    AND c.checkpoint_id = path.parent_checkpoint_id
), branching AS (
    SELECT DISTINCT c.parent_checkpoint_id AS checkpoint_id FROM checkpoints c
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
    AND c.parent_checkpoint_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM path WHERE path.checkpoint_id = c.checkpoint_id)
)
SELECT path.checkpoint_id, path.depth, path.turns, path.copy, path.versions,
    branching.checkpoint_id IS NOT NULL AS branches
FROM path LEFT JOIN branching USING (checkpoint_id)
ORDER BY path.depth
"""

# A full copy given up: its blobs, and the marker in its checkpoint that says it holds one.
_DROP_COPY_BLOBS_SQL = """
DELETE FROM checkpoint_blobs
WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND channel = %(channel)s
AND version = ANY(%(versions)s)
"""
_DROP_COPY_MARKERS_SQL = """
UPDATE checkpoints
SET checkpoint = jsonb_set(checkpoint, '{channel_values}',
    (checkpoint -> 'channel_values') - %(channels)s::text[])
WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id = ANY(%(ids)s)
"""
_DELETE_CHECKPOINTS_SQL = """
DELETE FROM checkpoints
WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id = ANY(%(ids)s)
"""
_DELETE_WRITES_SQL = """
DELETE FROM checkpoint_writes
WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id = ANY(%(ids)s)
"""
# Blobs that no checkpoint of the thread names any more.
_DELETE_ORPHAN_BLOBS_SQL = """
DELETE FROM checkpoint_blobs b
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = ''
AND NOT EXISTS (
    SELECT 1 FROM checkpoints c
    WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = ''
    AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version
)
"""


@dataclass(frozen=True)
class Step:
    checkpoint_id: str
    depth: int
    turns: int
    copy: bool
    versions: dict[str, str]
    branches: bool


@dataclass(frozen=True)
class Plan:
    """What a pruning deletes: whole checkpoints, and full copies given up."""

    checkpoints: list[str]
    copies: list[Step]


def plan(path: Sequence[Step], keep_turns: int | None) -> Plan:
    """What to delete of the head's path (`path`, newest first), keeping `keep_turns` turns
    (None: every checkpoint)."""
    copies = [step for step in path if step.copy]
    if not copies:
        return Plan([], [])
    # The copy the kept checkpoints rebuild from: the newest, or with a number of turns to
    # keep, the newest that is at least that many turns back.
    if keep_turns is None:
        boundary: Step | None = None
    else:
        boundary = next((s for s in copies if s.turns >= keep_turns), None)
    # Another branch leaves the path here: it needs this checkpoint and everything before it.
    needed_from = next((s.depth for s in path if s.branches), len(path))
    dropped_copies = [s for s in copies[1:] if s.depth < needed_from]
    checkpoints: list[str] = []
    if boundary is not None and boundary.depth < needed_from:
        checkpoints = [s.checkpoint_id for s in path if boundary.depth < s.depth < needed_from]
        dropped_copies = [s for s in dropped_copies if s.depth < boundary.depth]
    return Plan(checkpoints, dropped_copies)


async def prune(
    conn: AsyncConnection[DictRow],
    thread_id: str,
    head: str,
    channels: Sequence[str],
    keep_turns: int | None,
) -> Plan:
    """Deletes what the thread need not keep of its history, in the caller's transaction, and
    says what went."""
    params = {"thread_id": thread_id, "head": head, "channels": list(channels)}
    rows = await (await conn.execute(_PATH_SQL, params)).fetchall()
    path = [
        Step(r["checkpoint_id"], r["depth"], r["turns"], r["copy"], r["versions"], r["branches"])
        for r in rows
    ]
    decided = plan(path, keep_turns)
    if decided.copies:
        for channel in channels:
            versions = [s.versions[channel] for s in decided.copies if channel in s.versions]
            await conn.execute(
                _DROP_COPY_BLOBS_SQL, {**params, "channel": channel, "versions": versions}
            )
        ids = [s.checkpoint_id for s in decided.copies]
        await conn.execute(_DROP_COPY_MARKERS_SQL, {**params, "ids": ids})
    if decided.checkpoints:
        ids = decided.checkpoints
        await conn.execute(_DELETE_WRITES_SQL, {**params, "ids": ids})
        await conn.execute(_DELETE_CHECKPOINTS_SQL, {**params, "ids": ids})
        await conn.execute(_DELETE_ORPHAN_BLOBS_SQL, params)
    return decided
