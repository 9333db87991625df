"""POST /threads/{thread_id}/commands: the thread-centric protocol's commands, as the newest
LangGraph SDKs send them (`run.start`, `agent.getTree`; anything else is `unknown_command`)."""

from __future__ import annotations

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


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _run_create(params: dict[str, Any]) -> RunCreate:
    if not isinstance(params.get("assistant_id"), str):
        raise _Refused("invalid_argument", "run.start needs params.assistant_id, a string")
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
    except HTTPException as error:
        raise _Refused("invalid_argument", str(error.detail)) from None
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
        raise _Refused(code, refused.failure.message) from None
    return {"run_id": run_id}


@router.post("/threads/{thread_id}/commands")
async def command(
    thread_id: UUID,
    request: Request,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> JSON:
    body = await protocol_body(request, settings)
    command_id = body.get("id") if isinstance(body, dict) else None
    method = body.get("method") if isinstance(body, dict) else None
    if not isinstance(command_id, int) or isinstance(command_id, bool):
        return _invalid("a command's id must be an integer")
    if not isinstance(method, str):
        return _invalid("a command's method must be a string")
    params = body.get("params") or {}
    try:
        if not isinstance(params, dict):
            raise _Refused("invalid_argument", "a command's params must be an object")
        if method == "run.start":
            result = await _run_start(conversations, settings, owner, thread_id, params)
        elif method == "agent.getTree":
            raise _Refused("no_such_run", "no run is bound to this request")
        else:
            raise _Refused("unknown_command", f"unknown command: {method}")
    except _Refused as refused:
        return JSON(
            {"type": "error", "id": command_id, "error": refused.code, "message": str(refused)}
        )
    applied = await conversations.last_event_seq(thread_id, owner)
    return JSON(
        {
            "type": "success",
            "id": command_id,
            "result": result,
            "meta": {"applied_through_seq": applied},
        }
    )


def _invalid(message: str) -> JSON:
    return JSON(
        {"type": "error", "id": None, "error": "invalid_argument", "message": message},
        status_code=400,
    )
