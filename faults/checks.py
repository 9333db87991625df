"""What must hold once the load is over, checked from outside: the clients' outcomes held against
each session's history as the API gives it back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from faults.load import Outcome, Turn, expected_reply

# The statuses a turn may be refused with (README, "Behaviour under failure"): 409, another turn
# of the session was saved first; 503, the database is unavailable.
DOCUMENTED_REFUSALS = frozenset({409, 503})
OVERTAKEN = "another turn of this session was saved while this one ran"

Message = Mapping[str, str]  # {"role": ..., "content": ...}, as GET /chat/{id} gives it


@dataclass
class Tally:
    sent: int = 0
    saved: int = 0
    failed: int = 0  # told so
    cut: int = 0  # cut off or unanswered: the client was told nothing
    lost: int = 0  # told saved, missing from the history
    interleaved: int = 0  # stored messages that are not a user message followed by its reply
    stored_though_failed: int = 0  # told it failed (not "overtaken"), yet in the history
    problems: list[str] = field(default_factory=list)
    # How the turns that were not saved ended, and how many ended so.
    endings: Counter[str] = field(default_factory=Counter)


def tally(turns: Sequence[Turn], histories: Mapping[str, Sequence[Message]]) -> Tally:
    result = Tally(sent=len(turns))
    stored = _whole_turns(histories, result)
    by_message = {turn.message: turn for turn in turns}
    for message in stored:
        if message not in by_message:
            result.problems.append(f"a stored message no client sent: {message[:60]!r}")
    for turn in turns:
        _count(turn, turn.message in stored, result)
    _check_order(turns, stored, result)
    return result


def _whole_turns(histories: Mapping[str, Sequence[Message]], result: Tally) -> dict[str, int]:
    """Each stored user message that is followed by its own reply, and its place in the history;
    everything else is counted as interleaved."""
    stored: dict[str, int] = {}
    for session, history in histories.items():
        index = 0
        while index < len(history):
            message = history[index]
            following = history[index + 1] if index + 1 < len(history) else None
            if (
                message["role"] == "user"
                and following is not None
                and following["role"] == "assistant"
                and following["content"] == expected_reply(message["content"])
            ):
                if message["content"] in stored:
                    result.problems.append(f"stored twice: {message['content'][:60]!r}")
                stored[message["content"]] = index
                index += 2
                continue
            result.interleaved += 1
            result.problems.append(
                f"session {session}, message {index}: a {message['role']} message out of place: "
                f"{[m['role'] for m in history[max(0, index - 2) : index + 3]]}"
            )
            index += 1
    return stored


def _count(turn: Turn, in_history: bool, result: Tally) -> None:
    where = f"session {turn.session[:8]} client {turn.client} turn {turn.number}"
    if turn.outcome == Outcome.SAVED:
        result.saved += 1
        if not in_history:
            result.lost += 1
            result.problems.append(f"{where}: told saved, not in the history")
        if turn.reply != expected_reply(turn.message):
            result.problems.append(f"{where}: the reply streamed was {turn.reply[:60]!r}")
    elif turn.outcome == Outcome.FAILED:
        result.failed += 1
        if turn.status is not None and turn.status != 200:
            if turn.status not in DOCUMENTED_REFUSALS:
                result.problems.append(f"{where}: answered {turn.status} {turn.detail[:200]}")
        elif "internal error" in turn.detail:
            result.problems.append(f"{where}: failed with {turn.detail!r}")
        if in_history:
            if OVERTAKEN in turn.detail:
                result.problems.append(f"{where}: told nothing was stored, yet it is")
            else:
                result.stored_though_failed += 1
    elif turn.outcome == Outcome.STALLED:
        result.problems.append(f"{where}: no outcome in time (a wedge?)")
    else:
        result.cut += 1
    if turn.outcome != Outcome.SAVED:
        result.endings[_ending(turn)] += 1


def _ending(turn: Turn) -> str:
    if turn.outcome == Outcome.FAILED and turn.status != 200:
        try:
            detail = json.loads(turn.detail)["detail"]
        except (ValueError, KeyError, TypeError):
            detail = turn.detail
        return f"`{turn.status}` before the reply: {detail}"
    if turn.outcome == Outcome.FAILED:
        return f"an error once the reply had begun: {turn.detail}"
    if turn.outcome == Outcome.UNANSWERED:
        return f"no answer ({turn.detail.split('(', 1)[0]})"
    how = turn.detail.split("(", 1)[0] or "the stream closed without an end"
    return f"cut off once the response had begun ({how})"


def _check_order(turns: Sequence[Turn], stored: Mapping[str, int], result: Tally) -> None:
    """A client sends its turns one after another: those stored are in the order it sent them."""
    places: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for turn in turns:
        if turn.message in stored:
            places.setdefault((turn.session, turn.client), []).append(
                (turn.number, stored[turn.message])
            )
    for (session, client), pairs in places.items():
        in_history = [place for _, place in sorted(pairs)]
        if in_history != sorted(in_history):
            result.problems.append(f"session {session[:8]} client {client}: turns out of order")
