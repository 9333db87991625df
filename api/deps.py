from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.conversations import Conversations
from api.resources import Resources
from api.settings import Settings
from api.streaming import StreamPolicy


def resources_of(request: Request) -> Resources:
    return request.state.resources


def settings_of(request: Request) -> Settings:
    return request.state.resources.settings


def conversations_of(request: Request) -> Conversations:
    return request.state.resources.conversations


def stream_policy_of(request: Request) -> StreamPolicy:
    return request.state.resources.stream_policy


ResourcesDep = Annotated[Resources, Depends(resources_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
ConversationsDep = Annotated[Conversations, Depends(conversations_of)]
StreamPolicyDep = Annotated[StreamPolicy, Depends(stream_policy_of)]
