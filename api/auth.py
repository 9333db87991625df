from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Annotated

import orjson
from fastapi import Depends, HTTPException, WebSocket, status
from fastapi.security import (
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBearer,
)

from api.deps import SettingsDep
from api.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="One of the keys in API_KEYS; not needed when API_KEYS is unset.",
)

# The LangGraph SDKs send their key this way (and refuse to send it in any other header).
api_key_header = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="One of the keys in API_KEYS, as the LangGraph SDKs send it.",
)

# Browsers cannot send headers with a WebSocket: the socket also takes its key from the URL.
api_key_query = APIKeyQuery(
    name="api_key",
    auto_error=False,
    description="One of the keys in API_KEYS; WS /threads/{thread_id}/stream/events only.",
)

UNAUTHORIZED = "API_KEYS is set and the request has none of its keys"
# How long a WebSocket whose handshake has no key may take to send it in its first frame.
FIRST_FRAME_SECONDS = 10.0


def owner_of(key: str) -> str:
    """Who owns the sessions created with `key`: a digest of it, so the key is never stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


def key_owner(settings: Settings, sent: str) -> str | None:
    """The owner of the sessions of `sent`, one of API_KEYS; None if it is none of them."""
    owner = owner_of(sent)
    # Digests of equal length, every key compared: the time taken tells nothing about the keys.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(owner, owner_of(key.get_secret_value()))
    return owner if matched else None


async def get_owner(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> str:
    """The owner of the caller's sessions: '' when API_KEYS is unset, else that of its key."""
    if not settings.api_keys:
        return ""
    sent = credentials.credentials if credentials is not None else api_key
    if sent is None:
        raise _unauthorized("missing API key: send Authorization: Bearer <key> or X-Api-Key")
    owner = key_owner(settings, sent)
    if owner is None:
        raise _unauthorized("invalid API key")
    return owner


async def socket_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header: Annotated[str | None, Depends(api_key_header)],
    query: Annotated[str | None, Depends(api_key_query)],
) -> str | None:
    """The key a WebSocket's handshake carries: in a header, as other clients send it, or in
    `?api_key=`, as a browser can."""
    if credentials is not None:
        return credentials.credentials
    return header if header is not None else query


async def socket_owner(websocket: WebSocket, settings: Settings, key: str | None) -> str | None:
    """The owner of an accepted WebSocket's sessions ('' when API_KEYS is unset), by the key of
    its handshake, else of its first frame `{"type": "auth", "api_key": …}`; None without a
    valid one."""
    if not settings.api_keys:
        return ""
    if key is None:
        try:
            async with asyncio.timeout(FIRST_FRAME_SECONDS):
                message = await websocket.receive()
            first = orjson.loads(message.get("text") or message.get("bytes") or b"null")
        except (TimeoutError, orjson.JSONDecodeError):
            return None
        if isinstance(first, dict) and first.get("type") == "auth":
            key = first.get("api_key") if isinstance(first.get("api_key"), str) else None
    return None if key is None else key_owner(settings, key)


OwnerDep = Annotated[str, Depends(get_owner)]
