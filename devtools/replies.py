"""A deterministic stand-in for what a model says: enough to show what it was sent."""

from __future__ import annotations

import re

_NAME = re.compile(r"\bmy name is (\w+)", re.IGNORECASE)


def reply_to(user_messages: list[str]) -> str:
    """Greets a user who gives a name and recalls it when asked; otherwise echoes the message."""
    if not user_messages:
        return "Hello! How can I help you today?"
    last = user_messages[-1]
    names = [m.group(1) for text in user_messages if (m := _NAME.search(text))]
    if "name" in last.lower() and "?" in last and names:
        return f"Your name is {names[-1]}."
    if match := _NAME.search(last):
        return f"Hello {match.group(1)}! It's nice to meet you. How can I help you today?"
    return f"You said: {last}"


def tokens(text: str) -> list[str]:
    """Splits a reply into word-sized tokens that join back to the same text."""
    return re.findall(r"\s*\S+", text)
