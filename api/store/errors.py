"""What the store refuses, in terms of sessions."""

from __future__ import annotations

NO_SUCH_SESSION = "no such session"


class SessionNotFound(LookupError):
    """The session does not exist, or it is not the caller's: the same answer, a 404."""

    def __init__(self) -> None:
        super().__init__(NO_SUCH_SESSION)


class SessionBusy(Exception):
    """The session's lock is held by a running turn, and the caller would not wait."""


class RunNotFound(SessionNotFound):
    """The session has no such run (or it is not the caller's): a 404 all the same."""

    def __init__(self) -> None:
        LookupError.__init__(self, "no such run in this thread")
