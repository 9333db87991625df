"""Agent Chat UI's sequence of calls, through the JS LangGraph SDK at the version it pins, run by
node: against this server, and side by side with `langgraph dev` so the two cannot drift apart."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chat_client import new_session, say
from tests.support.reference import same_metadata_keys, shape

JS = Path(__file__).resolve().parent / "js"
BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """The JS SDK installed from the lock file in tests/langgraph/js; node itself must be there."""
    node = shutil.which("node")
    assert node is not None, "node is not installed: the JS SDK tests need Node.js 20"
    if not (JS / "node_modules" / "@langchain" / "langgraph-sdk").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True
        )
    return JS / "agent_chat_ui.mjs"


async def _agent_chat_ui(script: Path, url: str, key: str | None = None) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        url,
        *([key] if key else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    def text(content: Any) -> str:
        if isinstance(content, str):
            return content
        return "".join(block["text"] for block in content)

    return [text(m["content"]) for m in messages]


def _tokens(run: dict[str, Any]) -> str:
    return "".join(e["data"][0]["content"] for e in run["events"] if e["event"] == "messages")


async def test_agent_chat_ui_against_this_server(client: httpx.AsyncClient, node_sdk: Path) -> None:
    url = str(client.base_url).rstrip("/")
    earlier = await new_session(client)
    await say(client, earlier, BOB)

    seen = await _agent_chat_ui(node_sdk, url)

    assert seen["info"] == {"ok": True, "status": 200}
    assert earlier in seen["found"]
    first, second = seen["first"], seen["second"]
    assert "error" not in first and "error" not in second
    assert first["events"][0] == {
        "event": "metadata",
        "data": {"run_id": first["runId"], "attempt": 1},
    }
    assert _tokens(first) == HELLO_BOB
    assert _tokens(second) == "Your name is Bob."
    # The client's message id is kept, so its optimistic message is not shown twice.
    assert seen["history"][0]["values"]["messages"][0]["id"] == first["messageId"]
    assert len(seen["history"]) >= 1
    assert seen["history"][0]["checkpoint"]["checkpoint_id"]
    # Regenerating from an older checkpoint: refused, and nothing stored.
    assert seen["regenerate"]["error"]["status"] == 409
    assert seen["regenerate"]["events"] == []
    assert _texts(seen["after"][0]["values"]["messages"]) == [
        BOB,
        HELLO_BOB,
        "What's my name again?",
        "Your name is Bob.",
    ]
    [thread] = seen["searched"]
    assert thread["metadata"]["graph_id"] == "chat"
    assert _texts(thread["values"]["messages"])[0] == BOB
    conversation = (await client.get(f"/chat/{seen['thread']['thread_id']}")).json()
    assert [m["content"] for m in conversation] == _texts(seen["after"][0]["values"]["messages"])


async def test_agent_chat_ui_with_an_api_key(
    keyed_url: str, api_keys: tuple[str, str], node_sdk: Path
) -> None:
    async with httpx.AsyncClient(base_url=keyed_url, headers={"X-Api-Key": api_keys[1]}) as other:
        theirs = await new_session(other)
    seen = await _agent_chat_ui(node_sdk, keyed_url, api_keys[0])
    assert _tokens(seen["second"]) == "Your name is Bob."
    assert theirs not in seen["found"]
    assert [t["thread_id"] for t in seen["searched"]] == [seen["thread"]["thread_id"]]


def _names(run: dict[str, Any]) -> list[str]:
    return [e["event"] for e in run["events"]]


def _first(run: dict[str, Any], name: str) -> Any:
    return next(e["data"] for e in run["events"] if e["event"] == name)


def _last(run: dict[str, Any], name: str) -> Any:
    return [e["data"] for e in run["events"] if e["event"] == name][-1]


async def test_the_same_calls_as_against_langgraph_dev(
    openai_app_url: str, langgraph_dev: str, node_sdk: Path
) -> None:
    # Both servers run the real ChatOpenAI client against the same stub.
    ours, theirs = await asyncio.gather(
        _agent_chat_ui(node_sdk, openai_app_url),
        _agent_chat_ui(node_sdk, langgraph_dev),
    )
    for turn in ("first", "second"):
        # Every chunk of the model, the empty role chunk first and the finish chunks last.
        assert _names(ours[turn]) == _names(theirs[turn])
        names = [name for name, _ in itertools.groupby(_names(ours[turn]))]
        assert names == ["metadata", "values", "messages", "updates", "values"]
        assert _tokens(ours[turn]) == _tokens(theirs[turn])
        for name in ("values", "updates"):
            assert shape(_first(ours[turn], name)) == shape(_first(theirs[turn], name))
        for chunk_of in (_first, _last):
            our_chunk, our_metadata = chunk_of(ours[turn], "messages")
            their_chunk, their_metadata = chunk_of(theirs[turn], "messages")
            assert shape(our_chunk) == shape(their_chunk)
            assert our_chunk["content"] == their_chunk["content"] == ""
            assert our_chunk["response_metadata"] == their_chunk["response_metadata"]
            assert same_metadata_keys(our_metadata, their_metadata)
            assert our_metadata["langgraph_node"] == their_metadata["langgraph_node"] == "model"
    assert set(theirs["thread"]) <= set(ours["thread"])
    assert theirs["thread"]["metadata"] == ours["thread"]["metadata"] == {}
    assert set(theirs["searched"][0]) <= set(ours["searched"][0])
    assert theirs["searched"][0]["metadata"] == ours["searched"][0]["metadata"]
    assert shape(ours["after"][0]["values"]) == shape(theirs["after"][0]["values"])
    assert set(ours["after"][0]) == set(theirs["after"][0])
    assert set(ours["after"][0]["checkpoint"]) == set(theirs["after"][0]["checkpoint"])
    # Where the two part on purpose: langgraph dev branches from an older checkpoint; this
    # server continues a session from its latest checkpoint only, and says so.
    assert "error" not in theirs["regenerate"]
    assert ours["regenerate"]["error"]["status"] == 409
