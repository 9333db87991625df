from __future__ import annotations

import httpx
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_messages

MAX_CONTEXT_TOKENS = 300


async def test_a_long_session_sends_the_model_only_the_recent_window(
    settings: Settings, database_url: str
) -> None:
    model = FakeChatModel()
    settings = settings.model_copy(
        update={"max_context_tokens": MAX_CONTEXT_TOKENS, "system_prompt": "Be brief."}
    )
    async with (
        serve(create_app(settings, chat_model=model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session_id = await new_session(http)
        for turn in range(60):
            await say(http, session_id, f"turn {turn} " + "word " * 10)
        assert await say(http, session_id, "last") == "You said: last\n"

    sent = model.calls[-1]
    assert count_tokens_approximately(sent) <= MAX_CONTEXT_TOKENS
    assert isinstance(sent[0], SystemMessage) and sent[0].text == "Be brief."
    assert isinstance(sent[1], HumanMessage)
    assert sent[-1].text == "last"
    assert 2 < len(sent) < 50
    # The whole conversation is still kept.
    assert len(await stored_messages(database_url, session_id)) == 2 * 61
