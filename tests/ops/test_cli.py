"""`chat-server` as a user runs it: a real process, its own embedded PostgreSQL, real HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from api.store.database import redacted
from devtools.ports import free_port
from devtools.processes import server_environment
from tests.support.servers import CHAT_SERVER, chat_server_process


def _run(cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHAT_SERVER],
        cwd=cwd,
        env=server_environment(**settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_a_model(scratch_dir: Path) -> None:
    result = _run(scratch_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "OPENAI_API_KEY" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_is_one_clear_line(scratch_dir: Path) -> None:
    result = _run(scratch_dir, OPENAI_API_KEY="sk-test", PORT="eighty")
    assert result.returncode == 1
    assert result.stderr.startswith("chat-server: invalid settings: PORT")
    assert "Traceback" not in result.stderr


def test_settings_that_contradict_each_other_are_one_clear_line(scratch_dir: Path) -> None:
    result = _run(scratch_dir, OPENAI_API_KEY="sk-test", DB_POOL_MIN_SIZE="8", DB_POOL_MAX_SIZE="4")
    assert result.returncode == 1
    assert result.stderr == (
        "chat-server: invalid settings: Value error, DB_POOL_MIN_SIZE (8) is larger than "
        "DB_POOL_MAX_SIZE (4)\n"
    )


def test_unreachable_database_is_one_clear_line_without_the_password(scratch_dir: Path) -> None:
    result = _run(
        scratch_dir,
        OPENAI_API_KEY="sk-test",
        DATABASE_URL=f"postgresql://chat:s3cret@127.0.0.1:{free_port()}/chat",
        DB_CONNECT_TIMEOUT_SECONDS="2",
    )
    assert result.returncode == 1
    assert result.stderr.startswith("chat-server: cannot connect to PostgreSQL at ")
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_logged_database_url_hides_the_password() -> None:
    shown = redacted("postgresql://chat:s3cret@db.example:5432/chat")
    assert shown == "user=chat dbname=chat host=db.example port=5432 password=***"


async def test_fresh_start_uses_the_embedded_database(
    scratch_dir: Path, openai_stub_url: str
) -> None:
    (scratch_dir / ".env").write_text(f"OPENAI_BASE_URL={openai_stub_url}\n")
    async with chat_server_process(scratch_dir, server_environment()) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = (await http.post("/chat")).text.strip()
            await http.post(f"/chat/{session_id}", content="Hi, my name is Bob!")
            reply = await http.post(f"/chat/{session_id}", content="What's my name again?")
            assert reply.text == "Your name is Bob.\n"
    assert "DATABASE_URL is not set: using the embedded PostgreSQL in .data/postgres" in server.log
    assert (scratch_dir / ".data" / "postgres" / "PG_VERSION").exists()
    assert server.process.returncode == 0
