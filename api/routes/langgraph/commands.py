"""The thread-centric protocol's commands, as the newest LangGraph SDKs send them (`run.start`,
`agent.getTree`; anything else is `unknown_command`): POST /threads/{thread_id}/commands, and the
same answers in-band on the thread's WebSocket (stream_socket.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Request

from api.auth import OwnerDep
from api.conversations import Conversations, TurnRefused
from api.deps import ConversationsDep, SettingsDep
from api.routes.langgraph.assistants import check_assistant
from api.routes.langgraph.inputs import input_messages
from api.routes.langgraph.requests import RunCreate, protocol_body, validated
from api.routes.langgraph.responses import JSON
from api.settings import Settings

router = APIRouter()

Frame = dict[str, Any]


class Refused(Exception):
    """A command answered with the protocol's error `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Malformed(ValueError):
    """A body that is no command: its id is not an integer, or its method not a string."""


@dataclass(frozen=True)
class Command:
    id: int
    method: str
    params: Any

    @staticmethod
    def of(body: Any) -> Command:
        command_id = body.get("id") if isinstance(body, dict) else None
        method = body.get("method") if isinstance(body, dict) else None
        if not isinstance(command_id, int) or isinstance(command_id, bool):
            raise Malformed("a command's id must be an integer")
        if not isinstance(method, str):
            raise Malformed("a command's method must be a string")
        return Command(command_id, method, body.get("params"))

    def checked_params(self) -> dict[str, Any]:
        params = {} if self.params is None else self.params
        if not isinstance(params, dict):
            raise Refused("invalid_argument", "a command's params must be an object")
        return params


def success(command_id: int, result: dict[str, Any], applied_through_seq: int) -> Frame:
    return {
        "type": "success",
        "id": command_id,
        "result": result,
        "meta": {"applied_through_seq": applied_through_seq},
    }


def error(command_id: int | None, code: str, message: str) -> Frame:
    return {"type": "error", "id": command_id, "error": code, "message": message}


def _run_create(params: dict[str, Any]) -> RunCreate:
    if not isinstance(params.get("assistant_id"), str):
        raise Refused("invalid_argument", "run.start needs params.assistant_id, a string")
    config = params.get("config")
    configurable = config.get("configurable") if isinstance(config, dict) else None
    checkpoint_id = configurable.get("checkpoint_id") if isinstance(configurable, dict) else None
    return validated(
        RunCreate,
        {
            "assistant_id": params["assistant_id"],
            "input": params.get("input"),
            "checkpoint_id": checkpoint_id,
            # langgraph-api's default for this protocol: wait for the running turn.
            "multitask_strategy": params.get("multitaskStrategy") or "enqueue",
            "if_not_exists": "create",
            "on_completion": "keep",
        },
    )


async def _run_start(
    conversations: Conversations,
    settings: Settings,
    owner: str,
    thread_id: UUID,
    params: dict[str, Any],
) -> dict[str, Any]:
    try:
        run = _run_create(params)
        check_assistant(run.assistant_id)
        messages = input_messages(
            run,
            settings.max_message_bytes,
            settings.max_attachment_bytes,
            from_checkpoint=run.checkpoint_id,
        )
    except HTTPException as refused:
        raise Refused("invalid_argument", str(refused.detail)) from None
    await conversations.create(owner, session_id=thread_id)
    run_id = str(uuid4())
    try:
        await conversations.start_streamed_turn(
            thread_id,
            owner,
            messages,
            run_id=run_id,
            reject_if_busy=run.multitask_strategy == "reject",
            from_checkpoint=run.checkpoint_id,
        )
    except TurnRefused as refused:
        code = "invalid_argument" if refused.failure.status < 500 else "unknown_error"
        raise Refused(code, refused.failure.message) from None
    return {"run_id": run_id}


async def answer(
    conversations: Conversations,
    settings: Settings,
    owner: str,
    thread_id: UUID,
    command: Command,
) -> Frame:
    """The answer to a command of the thread `thread_id`, by whichever door it came."""
    # Read before the command: a client that follows the thread from this seq on sees every
    # event of the run it starts (the run's first ones may be written before the answer goes).
    applied = await conversations.last_event_seq(thread_id, owner)
    try:
        params = command.checked_params()
        if command.method == "run.start":
            result = await _run_start(conversations, settings, owner, thread_id, params)
        elif command.method == "agent.getTree":
            raise Refused("no_such_run", "no run is bound to this request")
        else:
            raise Refused("unknown_command", f"unknown command: {command.method}")
    except Refused as refused:
        return error(command.id, refused.code, str(refused))
    return success(command.id, result, applied)


@router.post("/threads/{thread_id}/commands")
async def command(
    thread_id: UUID,
    request: Request,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> JSON:
    body = await protocol_body(request, settings)
    try:
        received = Command.of(body)
    except Malformed as malformed:
        return JSON(error(None, "invalid_argument", str(malformed)), status_code=400)
    return JSON(await answer(conversations, settings, owner, thread_id, received))
