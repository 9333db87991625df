from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from devtools.replies import reply_to, tokens


class FakeChatModel(BaseChatModel):
    """Streams `reply_to(...)` of the user's messages, one word per token, `delay` seconds apart.

    Every call's input is kept in `calls`, so tests can see what reached the model, and
    `cancelled` counts the calls stopped midway.
    """

    model_config = {"arbitrary_types_allowed": True}

    delay: float = 0.0
    # When set, the model stops after its first token until the event is set.
    gate: asyncio.Event | None = None
    calls: list[list[BaseMessage]] = []
    cancelled: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    def _reply(self, messages: list[BaseMessage]) -> str:
        self.calls.append(list(messages))
        return reply_to([m.text for m in messages if isinstance(m, HumanMessage)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._reply(messages)))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        try:
            for index, token in enumerate(tokens(self._reply(messages))):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if index == 1 and self.gate is not None:
                    await self.gate.wait()
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
                if run_manager:
                    await run_manager.on_llm_new_token(token, chunk=chunk)
                yield chunk
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
