"""A steady load on two server processes: several sessions, each with two clients, one through
each process, sending turns one after another; and every turn's outcome as its client saw it."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

import httpx

# A turn that has no outcome by then is counted as stalled (a wedge), not waited for.
TURN_TIMEOUT_SECONDS = 60.0
_SSE = {"Accept": "text/event-stream"}
_FILLER = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


class Outcome(StrEnum):
    SAVED = "saved"  # told so: SSE `event: end`, or a whole plain-text reply without an error line
    FAILED = "failed"  # told so: an error status, `event: error`, or the `[error: ...]` line
    CUT = "cut off"  # the response began, then broke off without saying how the turn ended
    UNANSWERED = "unanswered"  # no response at all: the connection refused or closed first
    STALLED = "stalled"  # no outcome within TURN_TIMEOUT_SECONDS


@dataclass
class Turn:
    session: str
    client: int
    number: int  # the client's turns are numbered in the order it sent them
    server: int
    message: str
    started: float
    ended: float = 0.0
    outcome: Outcome = Outcome.STALLED
    status: int | None = None
    detail: str = ""  # the error the client was told, if any
    reply: str = ""


def compose(session: str, client: int, number: int, words: int) -> str:
    """A message no other turn sends: who sends it, then `words` words of filler."""
    filler = " ".join(itertools.islice(itertools.cycle(_FILLER), words))
    return f"{session[:8]} client {client} turn {number}: {filler}"


def expected_reply(message: str) -> str:
    """What the model stub answers to `message` (devtools/replies.py)."""
    return f"You said: {message}"


class Load:
    """Clients 0 and 1 of each session send their turns through server 0 and 1 respectively
    (one reads SSE, the other plain text); a client whose server stops answering goes on
    through the other one, as behind a load balancer."""

    def __init__(
        self, urls: Sequence[str], sessions: Sequence[str], *, words: int, think: float = 0.2
    ) -> None:
        self._http = [
            httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(TURN_TIMEOUT_SECONDS))
            for url in urls
        ]
        self.sessions = list(sessions)
        self._words = words
        # A client's pause between a reply and its next message. Without one, the client whose
        # server holds the session lock takes it again at once, while the other process asks
        # again only every few tens of milliseconds, and its client may wait many turns.
        self._think = think
        self.turns: list[Turn] = []
        self._streaming: Counter[int] = Counter()
        self._numbers: Counter[tuple[str, int]] = Counter()
        self._open = asyncio.Event()
        self._open.set()
        self._stopped = False
        self._in_flight = 0

    async def __aenter__(self) -> Load:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
        for http in self._http:
            await http.aclose()

    async def run(self) -> None:
        """Keeps every client busy until `stop()`."""
        clients = itertools.product(range(len(self.sessions)), (0, 1))
        await asyncio.gather(*(self._client(self.sessions[s], c, s) for s, c in clients))

    def stop(self) -> None:
        self._stopped = True
        self._open.set()

    async def _client(self, session: str, client: int, index: int) -> None:
        server = client
        # Within a pair, which client reads SSE alternates from one session to the next.
        event_stream = (client + index) % 2 == 0
        while True:
            await self._open.wait()
            if self._stopped:
                return
            if not self._open.is_set():
                continue  # paused again before this client woke
            self._in_flight += 1
            try:
                turn = await self.send(session, client, server, event_stream=event_stream)
            finally:
                self._in_flight -= 1
            if turn.outcome in (Outcome.CUT, Outcome.UNANSWERED):
                server = 1 - server
            await asyncio.sleep(self._think)

    async def send(self, session: str, client: int, server: int, *, event_stream: bool) -> Turn:
        """One turn, recorded with its outcome."""
        number = self._numbers[session, client]
        self._numbers[session, client] += 1
        message = compose(session, client, number, self._words)
        turn = Turn(session, client, number, server, message, time.monotonic())
        self.turns.append(turn)
        try:
            async with asyncio.timeout(TURN_TIMEOUT_SECONDS):
                await self._exchange(turn, event_stream)
        except TimeoutError:
            turn.outcome = Outcome.STALLED
        except httpx.TransportError as error:
            turn.outcome = Outcome.UNANSWERED if turn.status is None else Outcome.CUT
            turn.detail = repr(error)
        turn.ended = time.monotonic()
        return turn

    async def _exchange(self, turn: Turn, event_stream: bool) -> None:
        http = self._http[turn.server]
        headers = _SSE if event_stream else {}
        path = f"/chat/{turn.session}"
        async with http.stream("POST", path, content=turn.message, headers=headers) as response:
            turn.status = response.status_code
            if response.status_code != 200:
                turn.outcome = Outcome.FAILED
                turn.detail = (await response.aread()).decode(errors="replace")
                return
            streaming = False

            def first_token() -> None:
                nonlocal streaming
                if not streaming:
                    streaming = True
                    self._streaming[turn.server] += 1

            read = _read_events if event_stream else _read_text
            try:
                await read(turn, response, first_token)
            finally:
                if streaming:
                    self._streaming[turn.server] -= 1

    async def mid_reply(self, server: int | None = None, timeout: float = 30.0) -> None:
        """Waits until a reply streams (through `server`, if given)."""

        def streaming() -> bool:
            if server is None:
                return sum(self._streaming.values()) > 0
            return self._streaming[server] > 0

        await _until(streaming, timeout, "no reply streamed")

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No turn at all within: new turns wait, the running ones end first."""
        self._open.clear()
        try:
            await _until(lambda: self._in_flight == 0, TURN_TIMEOUT_SECONDS, "turns never ended")
            yield
        finally:
            self._open.set()

    def saved_since(self, since: float) -> dict[str, float]:
        """Each session's first saved turn sent at `since` or later: when it ended."""
        first: dict[str, float] = {}
        for turn in self.turns:
            if turn.outcome == Outcome.SAVED and turn.started >= since:
                first[turn.session] = min(first.get(turn.session, turn.ended), turn.ended)
        return first

    async def every_session_saved_since(self, since: float, timeout: float) -> bool:
        try:
            await _until(lambda: len(self.saved_since(since)) == len(self.sessions), timeout, "")
        except TimeoutError:
            return False
        return True

    async def sent(self, count: int, timeout: float) -> None:
        await _until(lambda: len(self.turns) >= count, timeout, f"fewer than {count} turns sent")

    async def warmed_up(self, timeout: float = 60.0) -> None:
        """Every client has had a turn saved."""

        def warm() -> bool:
            saved = {(t.session, t.client) for t in self.turns if t.outcome == Outcome.SAVED}
            return len(saved) == 2 * len(self.sessions)

        await _until(warm, timeout, "not every client had a turn saved")


async def _read_events(
    turn: Turn, response: httpx.Response, first_token: Callable[[], None]
) -> None:
    name = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            data = json.loads(line.removeprefix("data: "))
            if name == "token":
                first_token()
                turn.reply += data["content"]
            elif name == "end":
                turn.outcome = Outcome.SAVED
                return
            elif name == "error":
                turn.outcome = Outcome.FAILED
                turn.detail = str(data.get("message"))
                return
    # The stream closed without saying how the turn ended.
    turn.outcome = Outcome.CUT


async def _read_text(turn: Turn, response: httpx.Response, first_token: Callable[[], None]) -> None:
    body = ""
    async for chunk in response.aiter_text():
        if chunk:
            first_token()
        body += chunk
    reply, _, error = body.partition("\n[error: ")
    turn.reply = reply.removesuffix("\n")
    if error:
        turn.outcome = Outcome.FAILED
        turn.detail = error.rstrip("\n").removesuffix("]").removeprefix("the reply was cut off: ")
    else:
        turn.outcome = Outcome.SAVED


async def _until(condition: Callable[[], bool], timeout: float, failure: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise TimeoutError(f"{failure} within {timeout:.0f} s") from None
