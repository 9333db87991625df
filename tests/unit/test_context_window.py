from __future__ import annotations

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

from graph.builder import context_window

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
