from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from langgraph.graph.state import CompiledStateGraph

from api.resources import Resources
from api.saver import PooledPostgresSaver
from api.session_lock import SessionLocks
from api.sessions import Sessions
from api.settings import Settings
from api.turns import TurnRunner


def get_resources(request: Request) -> Resources:
    return request.state.resources


def get_settings(resources: Annotated[Resources, Depends(get_resources)]) -> Settings:
    return resources.settings


def get_sessions(resources: Annotated[Resources, Depends(get_resources)]) -> Sessions:
    return resources.sessions


def get_graph(resources: Annotated[Resources, Depends(get_resources)]) -> CompiledStateGraph:
    return resources.graph


def get_turns(resources: Annotated[Resources, Depends(get_resources)]) -> TurnRunner:
    return resources.turns


def get_saver(resources: Annotated[Resources, Depends(get_resources)]) -> PooledPostgresSaver:
    return resources.saver


def get_locks(resources: Annotated[Resources, Depends(get_resources)]) -> SessionLocks:
    return resources.locks


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[Sessions, Depends(get_sessions)]
GraphDep = Annotated[CompiledStateGraph, Depends(get_graph)]
TurnsDep = Annotated[TurnRunner, Depends(get_turns)]
SaverDep = Annotated[PooledPostgresSaver, Depends(get_saver)]
LocksDep = Annotated[SessionLocks, Depends(get_locks)]
