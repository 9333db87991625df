"""A session's storage: each turn writes about the same bytes however long the conversation,
every checkpoint is kept, and only the newest full copy of the conversation."""

from __future__ import annotations

import itertools
import statistics

import httpx

from graph.state import SNAPSHOT_EVERY_UPDATES
from tests.support.chat_client import new_session, say
from tests.support.stored import checkpoint_footprint, full_copies, stored_turns

# Two updates of the conversation a turn: the user's message, then the reply.
TURNS_PER_COPY = SNAPSHOT_EVERY_UPDATES // 2


async def test_each_turn_writes_the_same_bytes_and_one_full_copy_is_kept(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    footprints = [checkpoint_footprint(database_url, session_id)]
    turns = TURNS_PER_COPY + 20
    for turn in range(1, turns + 1):
        await say(client, session_id, f"turn {turn:04}: " + "some words of a message " * 4)
        footprints.append(checkpoint_footprint(database_url, session_id))

    sizes = [f["bytes"] for f in footprints]
    added = [after - before for before, after in itertools.pairwise(sizes)]
    early = statistics.median(added[5:15])
    late = statistics.median(added[TURNS_PER_COPY - 15 : TURNS_PER_COPY - 5])
    # The 90th turn writes about what the 10th did: no copy of the whole conversation a turn.
    assert 0.8 < late / early < 1.25
    # Every turn's three checkpoints (its input, its message with the model next, its reply)
    # are kept, and one full copy of the conversation, however many were written.
    assert footprints[-1]["checkpoints"] == 3 * turns
    assert len(full_copies(database_url, session_id)) == 1
    # And nothing of the conversation is lost.
    assert len(await stored_turns(database_url, session_id)) == 2 * turns
