"""A session's storage grows with its conversation, not with the square of it."""

from __future__ import annotations

import httpx

from tests.chat_client import new_session, say
from tests.stored import checkpoint_footprint, stored_turns


async def test_rows_stay_constant_and_blob_bytes_grow_linearly(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    footprints = []
    for turns in range(1, 31):
        await say(client, session_id, f"turn {turns}: " + "some words of a message " * 4)
        if turns in (10, 20, 30):
            footprints.append(checkpoint_footprint(database_url, session_id))

    rows = [{k: v for k, v in f.items() if k != "blob_bytes"} for f in footprints]
    assert rows[0] == rows[1] == rows[2]
    assert rows[0]["checkpoints"] == 1
    first, second, third = (f["blob_bytes"] for f in footprints)
    # Linear: each ten turns add about as much as the ten before (quadratic would add ~2x more).
    assert 0.8 < (third - second) / (second - first) < 1.25
    assert len(await stored_turns(database_url, session_id)) == 60
