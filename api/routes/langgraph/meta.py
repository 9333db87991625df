"""What the clients ask before anything else; open like /healthz, since it holds no data."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from api.routes.langgraph.responses import JSON

router = APIRouter()


@router.get("/info")
async def info() -> JSON:
    return JSON(
        {
            "version": version("chat-server"),
            "langgraph_py_version": version("langgraph"),
            "flags": {"assistants": True, "crons": False},
            "metadata": {},
        }
    )


@router.get("/ok")
async def ok() -> JSON:
    return JSON({"ok": True})
