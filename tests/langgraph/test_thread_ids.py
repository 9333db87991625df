"""`POST /threads` with a `thread_id` another key's session holds: a 409 that says only that the id
is taken, as for any taken id, and leaves that session as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client

from tests.support.chat_client import say


@pytest.fixture
async def alice_and_bob(
    keyed_url: str, api_keys: tuple[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    key_a, key_b = api_keys
    async with (
        httpx.AsyncClient(base_url=keyed_url, headers={"X-Api-Key": key_a}, timeout=30) as alice,
        httpx.AsyncClient(base_url=keyed_url, headers={"X-Api-Key": key_b}, timeout=30) as bob,
    ):
        yield alice, bob


async def test_another_key_s_thread_id_is_taken_and_nothing_more(
    alice_and_bob: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    alice, bob = alice_and_bob
    created = await alice.post("/threads", json={"metadata": {"secret": "alice's"}})
    thread_id = created.json()["thread_id"]
    await say(alice, thread_id, "Hi, my name is Alice!")
    before = (await alice.get(f"/threads/{thread_id}")).json()

    taken = {"detail": f"thread {thread_id} exists already"}
    for if_exists in ("raise", "do_nothing"):
        body = {"thread_id": thread_id, "metadata": {"secret": "bob's"}, "if_exists": if_exists}
        response = await bob.post("/threads", json=body)
        assert response.status_code == 409, response.text
        # Word for word what Alice gets for her own id: no metadata, no values, no owner.
        assert response.json() == taken
    own = await alice.post("/threads", json={"thread_id": thread_id, "if_exists": "raise"})
    assert (own.status_code, own.json()) == (409, taken)

    # Bob cannot reach the session by any other door either, and Alice's is as it was.
    assert (await bob.get(f"/threads/{thread_id}")).status_code == 404
    assert (await alice.get(f"/threads/{thread_id}")).json() == before


async def test_do_nothing_still_returns_the_caller_s_own_thread(
    keyed_url: str, api_keys: tuple[str, str]
) -> None:
    async with get_client(url=keyed_url, api_key=api_keys[0]) as sdk:
        thread = await sdk.threads.create(metadata={"topic": "mine"})
        again = await sdk.threads.create(
            thread_id=thread["thread_id"], metadata={"topic": "other"}, if_exists="do_nothing"
        )
    assert again["thread_id"] == thread["thread_id"]
    assert again["metadata"]["topic"] == "mine"
