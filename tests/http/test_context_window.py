from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately

from api.main import create_app
from api.settings import Settings
from graph.builder import context_window
from tests.support.chat_client import new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_messages

MAX_CONTEXT_TOKENS = 300

_MESSAGES = st.lists(
    st.builds(
        lambda human, text: HumanMessage(text) if human else AIMessage(text),
        st.booleans(),
        st.text(max_size=80),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    messages=_MESSAGES,
    system_prompt=st.one_of(st.none(), st.text(min_size=1, max_size=60)),
    max_tokens=st.integers(min_value=0, max_value=200),
)
def test_the_window_is_what_trim_messages_keeps(
    messages: list[BaseMessage], system_prompt: str | None, max_tokens: int
) -> None:
    prompt = [SystemMessage(system_prompt)] if system_prompt else []
    expected = trim_messages(
        [*prompt, *messages],
        max_tokens=max_tokens,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        include_system=True,
    )
    assert context_window(messages, system_prompt, max_tokens) == expected


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
