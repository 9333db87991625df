"""What the image installs (`uv sync --frozen --no-dev`) is what the benchmark measures."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_production_install_brings_uvloop_httptools_and_aiohttp() -> None:
    uv = shutil.which("uv")
    assert uv is not None, "uv is not installed"
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = set(re.findall(r"^([a-z0-9][a-z0-9._-]*)==", exported, re.MULTILINE))
    # Without uvloop the server loses about a fifth of its throughput; aiohttp carries the
    # model's stream for less per token than httpx.
    assert {"uvloop", "httptools", "aiohttp"} <= installed
    # And nothing only the tests need.
    assert not {"pytest", "schemathesis", "playwright", "langgraph-cli"} & installed
