"""What a conversation is: create, find the caller's, take a turn, read, list, delete.
Knows nothing of HTTP; every front door goes through `Conversations`."""

from api.conversations.failures import Failure
from api.conversations.service import Conversation, Conversations
from api.conversations.turns import (
    OnDisconnect,
    Reply,
    Token,
    Turn,
    TurnEvent,
    TurnRequest,
    Update,
    Values,
)
from api.store.errors import SessionNotFound
from api.store.sessions import Session, SessionQuery, SortKey

__all__ = [
    "Conversation",
    "Conversations",
    "Failure",
    "OnDisconnect",
    "Reply",
    "Session",
    "SessionNotFound",
    "SessionQuery",
    "SortKey",
    "Token",
    "Turn",
    "TurnEvent",
    "TurnRequest",
    "Update",
    "Values",
]
