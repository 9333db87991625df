from __future__ import annotations

from langchain_openai import ChatOpenAI
from openai import DefaultAioHttpClient
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.untransformed import UntransformedMessages


class ModelSettings(BaseSettings):
    """What the chat model needs; the server's settings extend these."""

    # `OPENAI_BASE_URL=` in a .env file means "not set", not "the empty URL".
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    system_prompt: str | None = None
    model_timeout_seconds: float = Field(default=60.0, gt=0)
    model_max_retries: int = Field(default=2, ge=0)
    # The model is sent at most this much of the most recent conversation; all of it is kept.
    max_context_tokens: int = Field(default=16_000, ge=64)
    # Chat requests and their streams as plain JSON, past the SDK's models (graph/untransformed.py).
    openai_untransformed_messages: bool = True

    @property
    def model_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None


def make_chat_model(
    settings: ModelSettings, http_async_client: DefaultAioHttpClient | None = None
) -> ChatOpenAI:
    """ChatOpenAI as the settings say; over `http_async_client` when one is given (the server
    gives the OpenAI SDK's aiohttp client, which costs less per streamed token than httpx)."""
    # Local OpenAI-compatible servers accept any key, but the client insists on one.
    api_key = settings.openai_api_key or SecretStr("not-needed")
    model = ChatOpenAI(
        model=settings.openai_model,
        api_key=api_key,
        base_url=settings.openai_base_url,
        streaming=True,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        http_async_client=http_async_client,
    )
    if settings.openai_untransformed_messages:
        model.async_client = UntransformedMessages(model.root_async_client)
    return model
