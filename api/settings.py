from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from api.conversations import OnDisconnect
from graph import ModelSettings


class Settings(ModelSettings):
    """Every setting of the server, from the environment or an optional `.env` file."""

    database_url: SecretStr | None = None
    embedded_data_dir: str = ".data/postgres"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=20, ge=2)
    db_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # Sessions whose latest state each process keeps in memory, checked against PostgreSQL
    # before use (0: read every state from PostgreSQL).
    state_cache_sessions: int = Field(default=1000, ge=0)
    # What a session keeps of its history: `all` of its checkpoints (Studio's time travel and
    # the clients' regenerate, edit and branches need them), or its last this many turns.
    checkpoint_history: Literal["all"] | Annotated[int, Field(ge=0)] = "all"
    max_message_bytes: int = Field(default=32 * 1024, ge=1)
    # Decoded bytes of the images and files one message may carry (LangGraph runs); 0: none.
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=0)
    on_disconnect: OnDisconnect = "continue"
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # How long a thread's stream events (POST /threads/{id}/stream/events) are kept after they
    # were written: a client may resume (`since`) within it, from any replica.
    thread_events_retention_seconds: float = Field(default=3600.0, gt=0)
    # A running turn's process renews its run's lease this often (a third of it); a run whose
    # lease runs out (its process died or hung) is ended as failed by whichever replica a
    # client follows it through.
    run_lease_seconds: float = Field(default=10.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # `json`: one JSON object per log line, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # /metrics answers without a key even when API_KEYS is set.
    metrics_public: bool = False
    # The operator's key to /metrics: the keys of API_KEYS never open it.
    metrics_api_key: SecretStr | None = None
    # LangSmith tracing, under the names the LangSmith SDK reads (see api/observability/tracing.py).
    langsmith_tracing: bool = False
    langsmith_api_key: SecretStr | None = None
    langsmith_endpoint: str | None = None
    langsmith_project: str | None = None
    # Comma-separated in the environment, not JSON; none at all leaves the API open.
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    # Origins of browser pages allowed to call the API, besides LangGraph Studio's.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_api_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        keys = tuple(key.strip() for key in value.split(",") if key.strip())
        if not keys:
            # A value made only of commas and spaces is a mistake, not a wish for an open API.
            raise ValueError("no key in it: list keys separated by commas, or leave it unset")
        return keys

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())

    @model_validator(mode="after")
    def _metrics_key_apart(self) -> Settings:
        if self.metrics_api_key is None:
            return self
        key = self.metrics_api_key.get_secret_value()
        if not key.strip():
            raise ValueError("METRICS_API_KEY is blank: give it a key, or leave it unset")
        if self.metrics_public:
            # One of them is a mistake: the key would guard nothing.
            raise ValueError("METRICS_API_KEY is set and METRICS_PUBLIC is true: choose one")
        if key in {k.get_secret_value() for k in self.api_keys}:
            raise ValueError("METRICS_API_KEY is one of API_KEYS: /metrics needs a key of its own")
        return self

    @field_validator("heartbeat_seconds")
    @classmethod
    def _heartbeat_under_thirty_seconds(cls, value: float) -> float:
        # The JS SDK (1.9 and later) gives up on a stream silent for about 30 s.
        if value >= 30:
            raise ValueError(
                f"HEARTBEAT_SECONDS ({value:g}) must be under 30: the JS SDK aborts a stream "
                "silent for about 30 s"
            )
        return value

    @model_validator(mode="after")
    def _pool_bounds_in_order(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError(
                f"DB_POOL_MIN_SIZE ({self.db_pool_min_size}) is larger than DB_POOL_MAX_SIZE "
                f"({self.db_pool_max_size})"
            )
        return self

    @property
    def keep_turns(self) -> int | None:
        """Turns of history a session keeps (None: all)."""
        return None if self.checkpoint_history == "all" else self.checkpoint_history


@cache
def get_settings() -> Settings:
    return Settings()
