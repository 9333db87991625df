"""The cursor of GET /chat: opaque to the client, exact to the microsecond for the server."""

from __future__ import annotations

import base64
import re
import struct
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.conversations import Session
from api.schemas import decode_cursor, encode_cursor

# PostgreSQL gives created_at in the connection's time zone, to the microsecond. (Fixed
# offsets: Python compares a named zone's skipped or repeated hour unequal to any other zone.)
_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_SESSIONS = st.builds(
    Session,
    id=st.uuids(),
    created_at=st.datetimes(
        min_value=datetime(1800, 1, 1), max_value=datetime(3000, 1, 1), timezones=_OFFSETS
    ),
)
_EXAMPLES = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def _key(session: Session) -> tuple[datetime, UUID]:
    return session.created_at, session.id


@_EXAMPLES
@given(session=_SESSIONS)
def test_a_cursor_gives_back_the_session_it_was_made_from(session: Session) -> None:
    cursor = encode_cursor(session)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), "a cursor goes into a URL as it is"
    assert _key(decode_cursor(cursor)) == _key(session)


@_EXAMPLES
@given(sessions=st.lists(_SESSIONS, min_size=1, max_size=12), per_page=st.integers(1, 5))
def test_paging_by_cursor_lists_every_session_once_newest_first(
    sessions: list[Session], per_page: int
) -> None:
    # As GET /chat pages: the rows below `after` in (created_at, id), newest first.
    newest_first = sorted(sessions, key=_key, reverse=True)
    listed: list[Session] = []
    after: Session | None = None
    while True:
        rest = [s for s in newest_first if after is None or _key(s) < _key(after)]
        page = rest[:per_page]
        listed += page
        if len(rest) <= per_page:
            break
        after = decode_cursor(encode_cursor(page[-1]))
    assert [_key(s) for s in listed] == [_key(s) for s in newest_first]


def test_sessions_a_microsecond_apart_keep_their_order() -> None:
    at = datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    next_at = at + timedelta(microseconds=1)
    earlier = decode_cursor(encode_cursor(Session(id=uuid4(), created_at=at)))
    later = decode_cursor(encode_cursor(Session(id=uuid4(), created_at=next_at)))
    assert earlier.created_at < later.created_at
    assert later.created_at - earlier.created_at == timedelta(microseconds=1)


def _raw(micros: int, session_id: UUID) -> str:
    raw = struct.pack(">q16s", micros, session_id.bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_VALID = encode_cursor(Session(id=UUID(int=1), created_at=datetime(2024, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "AAAA",
        "x" * 33,
        "%%%",
        _VALID[:-1],
        _VALID + "AAAA",
        f" {_VALID}",
        _VALID.replace(_VALID[0], "é", 1),
        # A timestamp beyond any date.
        _raw(2**63 - 1, UUID(int=1)),
        _raw(-(2**63), UUID(int=1)),
    ],
    ids=[
        "empty",
        "words",
        "too-short",
        "too-long",
        "not-base64",
        "cut-off",
        "extra-bytes",
        "leading-space",
        "non-ascii",
        "far-future",
        "far-past",
    ],
)
def test_a_malformed_cursor_is_a_value_error(cursor: str) -> None:
    with pytest.raises(ValueError, match="malformed cursor"):
        decode_cursor(cursor)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(
    cursor=st.one_of(
        st.text(max_size=40),
        st.binary(min_size=24, max_size=24).map(
            lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")
        ),
    )
)
def test_any_text_is_a_session_or_a_value_error(cursor: str) -> None:
    # The route turns ValueError into a 422; anything else would be a 500.
    try:
        session = decode_cursor(cursor)
    except ValueError:
        return
    assert session.created_at.tzinfo is not None
    assert _key(decode_cursor(encode_cursor(session))) == _key(session)
