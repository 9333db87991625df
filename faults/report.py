"""RELIABILITY.md: what each fault did to the turns, and where that was measured."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from devtools.replies import tokens
from faults.load import compose, expected_reply
from faults.postgres import OwnedPostgres
from faults.scenario import SHUTDOWN_GRACE_SECONDS, Result, Shape

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def commit() -> str:
    described = f"`{_git('rev-parse', '--short', 'HEAD')}` ({_git('log', '-1', '--format=%s')})"
    if _git("status", "--porcelain", "--untracked-files=no"):
        described += ", with uncommitted changes in the working tree"
    return described


def machine() -> str:
    model = "an unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores of {model}"


def _reply_tokens(shape: Shape) -> int:
    return len(tokens(expected_reply(compose("0" * 8, 0, 0, shape.words))))


def _recovery(result: Result) -> str:
    seconds = result.recovery_seconds
    return "**not recovered**" if seconds is None else f"{seconds:.2f} s"


def render(
    results: Sequence[Result],
    *,
    shape: Shape,
    token_delay: float,
    postgres: OwnedPostgres,
    seconds: float,
) -> str:
    rows = [
        f"| {r.fault.title} | {r.tally.sent} | {r.tally.saved} | {r.tally.failed} "
        f"| {r.tally.cut} | {r.tally.stored_though_failed} | **{r.tally.lost}** "
        f"| **{r.tally.interleaved}** | {_recovery(r)} |"
        for r in results
    ]
    endings = [
        f"- {r.fault.slug}: " + "; ".join(f"{n} × {how}" for how, n in r.tally.endings.items())
        for r in results
        if r.tally.endings
    ]
    problems = [f"- {r.fault.slug}: {p}" for r in results for p in r.problems]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Reliability under faults",
            "",
            "What the server's clients saw while faults were injected under load, written by "
            f"`uv run python -m faults` ({seconds / 60:.1f} minutes) on {when}:",
            "",
            f"- commit: {commit()}",
            f"- machine: {machine()}",
            f"- PostgreSQL {postgres.version}, {postgres.origin}; an empty database for each fault",
            "- two `chat-server` processes on that database, with the default settings but "
            f"`SHUTDOWN_GRACE_SECONDS={SHUTDOWN_GRACE_SECONDS}`; the model: "
            "devtools/openai_stub.py, "
            f"echoing each message in {_reply_tokens(shape)} tokens, {token_delay * 1000:.0f} "
            "ms apart",
            f"- load: {shape.sessions} sessions, each with two clients, one through each process "
            "(one reads SSE, the other plain text), each sending its turns one after another "
            "with 0.2 s between a reply and the next message; a client whose process stops "
            "answering goes on through the other one. Each fault strikes while replies stream, "
            f"once every client has had a turn saved; the load runs on until {shape.turns} turns "
            "are sent and every session has had a turn saved since the fault. Then one more "
            "turn per session through each running process, and every history read back "
            "through `GET /chat/{id}`.",
            "",
            "| fault | turns sent | saved | failed (told so) | cut off or unanswered "
            "| failed, yet stored | lost | interleaved | time to recover |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "- **saved**: the client was told the reply was saved (SSE `event: end`, or a "
            "plain-text reply that ended without the `[error: ...]` line).",
            "- **failed (told so)**: `409` or `503` before the reply, `event: error`, or the "
            "`[error: ...]` line. Any other status, or an `internal error`, would be listed "
            "below as a problem.",
            "- **cut off or unanswered**: the connection closed with no answer, or in the middle "
            "of a reply (a process killed or stopping): the client was told nothing.",
            "- **failed, yet stored**: told the turn failed, though it is in the history (the "
            "save committed, but its answer was lost with the connection).",
            "- **lost** (must be 0): told saved, but not in the history as a user message "
            "followed by its own reply.",
            "- **interleaved** (must be 0): stored messages that are not a user message followed "
            "by its own reply (two user messages in a row, a reply without its message, a "
            "half turn).",
            "- **time to recover**: from the fault until every session had a turn saved that "
            "it sent after the fault (for the idle timeout, from the end of the last gap); it "
            "includes that turn's reply, and a wait for the other client's turn.",
            "",
            "How the turns that were not saved ended:",
            "",
            *endings,
            "",
            "Problems found: " + ("none." if not problems else ""),
            *problems,
            "",
        ]
    )
