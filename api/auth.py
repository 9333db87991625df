from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SettingsDep

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

UNAUTHORIZED = "API_KEYS is set and the request has none of its keys"


def owner_of(key: str) -> str:
    """Who owns the sessions created with `key`: a digest of it, so the key is never stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


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
    owner = owner_of(sent)
    # Digests of equal length, every key compared: the time taken tells nothing about the keys.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(owner, owner_of(key.get_secret_value()))
    if not matched:
        raise _unauthorized("invalid API key")
    return owner


OwnerDep = Annotated[str, Depends(get_owner)]
