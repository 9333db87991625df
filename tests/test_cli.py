"""`chat-server` as a user runs it: a real process, its own embedded PostgreSQL, real HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from api.database import redacted

CHAT_SERVER = str(Path(sys.executable).parent / "chat-server")


def _environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DATABASE_"))}
    return {**env, **overrides}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refuses_to_start_without_a_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [CHAT_SERVER], cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "OPENAI_API_KEY" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [CHAT_SERVER],
        cwd=tmp_path,
        env=_environment(OPENAI_API_KEY="sk-test", PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("chat-server: invalid settings: PORT")
    assert "Traceback" not in result.stderr


def test_logged_database_url_hides_the_password() -> None:
    shown = redacted("postgresql://chat:s3cret@db.example:5432/chat")
    assert "s3cret" not in shown
    assert "db.example" in shown and "chat" in shown


async def test_fresh_start_uses_the_embedded_database(tmp_path: Path, openai_stub_url: str) -> None:
    port = _free_port()
    (tmp_path / ".env").write_text(f"OPENAI_BASE_URL={openai_stub_url}\n")
    process = await asyncio.create_subprocess_exec(
        CHAT_SERVER,
        "--port",
        str(port),
        cwd=tmp_path,
        env=_environment(),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(600):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            created = await http.post("/chat")
            session_id = created.text.strip()
            await http.post(f"/chat/{session_id}", content="Hi, my name is Bob!")
            reply = await http.post(f"/chat/{session_id}", content="What's my name again?")
            assert reply.text == "Your name is Bob.\n"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    log = stderr.decode()
    assert "DATABASE_URL is not set: using the embedded PostgreSQL in .data/postgres" in log
    assert (tmp_path / ".data" / "postgres" / "PG_VERSION").exists()
    assert process.returncode == 0
