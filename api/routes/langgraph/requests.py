"""The request bodies of the LangGraph Server API, as far as this server serves it.

Fields the server does not act on are accepted and ignored, as langgraph-api does, unless
ignoring them would change what the client asked for: those are refused with a 422.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import Depends, HTTPException, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from api.conversations import OnDisconnect
from api.deps import SettingsDep
from api.request_body import read_json
from api.settings import Settings

StreamMode = Literal[
    "values", "updates", "messages", "messages-tuple", "custom", "debug", "events", "tasks",
    "checkpoints",
]  # fmt: skip


_INT64 = range(-(2**63), 2**63)
# What one thread's metadata may hold: every thread list that shows it must be able to write it.
MAX_METADATA_DEPTH = 32
MAX_METADATA_BYTES = 64 * 1024
# The furthest a search may page: PostgreSQL's OFFSET is a bigint.
MAX_OFFSET = 2**63 - 1


def _storable_value(value: Any, depth: int, what: str = "metadata") -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{what} may nest at most {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain the NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text may not contain unpaired surrogates") from None
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, float):
        # jsonb refuses NaN and the infinities, and keeps a float this large as an integer
        # beyond 64 bits, which no JSON writer here can write back.
        if not math.isfinite(value) or abs(value) >= 2**63:
            raise ValueError("numbers must be finite and smaller than 2**63 in magnitude")
    elif isinstance(value, int):
        if value not in _INT64:
            raise ValueError("integers must fit in 64 bits")
    elif isinstance(value, list):
        for item in value:
            _storable_value(item, depth + 1, what)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_value(key, depth + 1, what)
            _storable_value(item, depth + 1, what)


def check_storable(value: Any, what: str) -> None:
    """A ValueError unless `value` is JSON that is kept and written back as it came: no NUL
    character, no unpaired surrogate, no number JSON or 64 bits cannot hold, not too deep."""
    _storable_value(value, 1, what)


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata as PostgreSQL's jsonb keeps it and JSON writes it back: no NUL character, no
    unpaired surrogate, no number JSON or 64 bits cannot hold; within a depth and a size."""
    _storable_value(value, 1)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata may take at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_storable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CheckpointRef(_Body):
    thread_id: str | None = None
    checkpoint_ns: str | None = ""
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None
    # A config (`{"configurable": {"checkpoint_id": ...}}`): how the JS SDK types a history's
    # `before`, and the one object form langgraph-api reads there.
    configurable: CheckpointRef | None = None

    @property
    def id(self) -> str | None:
        nested = self.configurable.checkpoint_id if self.configurable else None
        return self.checkpoint_id or nested


class ThreadCreate(_Body):
    thread_id: UUID | None = None
    metadata: Metadata = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadPatch(_Body):
    metadata: Metadata = Field(default_factory=dict)


class ThreadSearch(_Body):
    ids: list[UUID] | None = None
    metadata: Metadata = Field(default_factory=dict)
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] = (
        "created_at"
    )
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class StateAtCheckpoint(_Body):
    checkpoint: CheckpointRef
    subgraphs: bool = False


class HistoryQuery(_Body):
    limit: int = Field(default=10, ge=1, le=1000)
    before: CheckpointRef | str | None = None
    metadata: Metadata | None = None
    checkpoint: CheckpointRef | None = None


def _storable_values(value: Any) -> Any:
    check_storable(value, "values")
    return value


StateValues = Annotated[
    dict[str, Any] | list[dict[str, Any]] | None, AfterValidator(_storable_values)
]


class StateUpdate(_Body):
    values: StateValues = None
    as_node: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None


class AssistantSearch(_Body):
    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class RunCreate(_Body):
    assistant_id: str
    input: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    on_disconnect: OnDisconnect | None = None
    # langgraph-api enqueues when the request names no strategy (`models/run.py`).
    multitask_strategy: Literal["reject", "rollback", "interrupt", "enqueue"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_completion: Literal["delete", "keep"] = "delete"
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    after_seconds: float | None = None
    metadata: dict[str, Any] | None = None

    @property
    def modes(self) -> set[str]:
        return {self.stream_mode} if isinstance(self.stream_mode, str) else set(self.stream_mode)


Body = TypeVar("Body", bound=BaseModel)


async def protocol_body(request: Request, settings: Settings) -> Any:
    """A body of the thread-centric protocol (its commands, its event stream): JSON within the
    size limit, else a 400 `{"detail": "Invalid JSON body"}`, as langgraph-api answers."""
    try:
        return await read_json(request, settings.max_message_bytes)
    except HTTPException as error:
        if error.status_code != 422:
            raise
        raise HTTPException(400, "Invalid JSON body") from None


def validated(model: type[Body], document: Any) -> Body:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        # langgraph-api says what is wrong in one string, and its clients expect one.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
        )
        raise HTTPException(422, problems) from None


def _reader(model: type[Body]) -> Callable[[Request, Settings], Awaitable[Body]]:
    async def read(request: Request, settings: SettingsDep) -> Body:
        return validated(model, await read_json(request, settings.max_message_bytes))

    return read


async def _read_run(request: Request, settings: SettingsDep) -> RunCreate:
    """A run's body, which may hold a message's attachments (in base64) besides its text."""
    base64_bytes = -(-settings.max_attachment_bytes // 3) * 4
    return validated(RunCreate, await read_json(request, settings.max_message_bytes, base64_bytes))


# Each body read from JSON whatever the request's Content-Type, within the size limit.
ThreadCreateBody = Annotated[ThreadCreate, Depends(_reader(ThreadCreate))]
ThreadPatchBody = Annotated[ThreadPatch, Depends(_reader(ThreadPatch))]
ThreadSearchBody = Annotated[ThreadSearch, Depends(_reader(ThreadSearch))]
StateAtCheckpointBody = Annotated[StateAtCheckpoint, Depends(_reader(StateAtCheckpoint))]
HistoryQueryBody = Annotated[HistoryQuery, Depends(_reader(HistoryQuery))]
StateUpdateBody = Annotated[StateUpdate, Depends(_reader(StateUpdate))]
AssistantSearchBody = Annotated[AssistantSearch, Depends(_reader(AssistantSearch))]
RunCreateBody = Annotated[RunCreate, Depends(_read_run)]
AnyBody = Annotated[_Body, Depends(_reader(_Body))]
