"""What a conversation is: create, find the caller's, take a turn, read, list, delete.
Knows nothing of HTTP; every front door goes through `Conversations`."""

from api.conversations.events import Accepted, Queued, Reply, Token, TurnEvent, Update, Values
from api.conversations.failures import Failure, TurnRefused, UnknownCheckpoint
from api.conversations.handle import OnDisconnect, Turn
from api.conversations.observer import Outcome, TurnObserver
from api.conversations.service import Conversation, Conversations, GraphSchemas
from api.store.errors import SessionNotFound
from api.store.runs import Run
from api.store.sessions import Session, SessionQuery, SortKey

__all__ = [
    "Accepted",
    "Conversation",
    "Conversations",
    "Failure",
    "GraphSchemas",
    "OnDisconnect",
    "Outcome",
    "Queued",
    "Reply",
    "Run",
    "Session",
    "SessionNotFound",
    "SessionQuery",
    "SortKey",
    "Token",
    "Turn",
    "TurnEvent",
    "TurnObserver",
    "TurnRefused",
    "UnknownCheckpoint",
    "Update",
    "Values",
]
