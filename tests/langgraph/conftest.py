"""Fixtures of the LangGraph client tests: the JS SDK's scripts, and a server to hold against
`langgraph dev`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.langgraph.node_scripts import JS


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """tests/langgraph/js with its packages installed from the lock file; node must be there."""
    assert shutil.which("node") is not None, "node is not installed: the JS tests need Node.js 20"
    wanted = json.loads((JS / "package.json").read_text())["dependencies"]
    if not all((JS / "node_modules" / name / "package.json").is_file() for name in wanted):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True
        )
    return JS


@pytest.fixture(params=["openai_app_url", "langgraph_dev"], ids=["this server", "langgraph dev"])
def server_url(request: pytest.FixtureRequest) -> str:
    """This server, then `langgraph dev`, both with ChatOpenAI and the stub: a test that takes
    it holds the two to the same answers."""
    url: str = request.getfixturevalue(request.param)
    return url
