"""The scripts of tests/langgraph/js, run by node."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

JS = Path(__file__).resolve().parent / "js"


async def run_node(script: Path, *args: str) -> dict[str, Any]:
    """Runs a script of tests/langgraph/js and returns the JSON document it prints."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result
