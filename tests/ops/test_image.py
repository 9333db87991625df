"""The image's recipe, proven without a Docker engine.

The Dockerfile is replayed in a scratch directory: its COPY steps copy what they name (and
nothing else), its ENV steps set the environment, and the `uv` commands of its RUN steps run
as written (`useradd` and `chown` are left out: they would change this machine, not an image).
Then its CMD starts as an unprivileged user against PostgreSQL and answers the seed demo, and
its HEALTHCHECK passes while the server runs and fails once it has stopped.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict

from devtools.processes import server_environment
from tests.support.servers import chat_server_process

ROOT = Path(__file__).resolve().parents[2]
# The Dockerfile's own directory in the image, and whatever it copies from other images.
IMAGE_WORKDIR = "/app"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, arguments = (pending + line).strip().split(None, 1)
        instructions.append((keyword.upper(), arguments))
        pending = ""
    return instructions


@dataclass
class Image:
    """What replaying the recipe built: a directory standing for the image's /app."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    healthcheck: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)

    def here(self, value: str) -> str:
        """A value of the recipe (a path, or a PATH) with its paths under /app moved to
        the scratch directory."""
        return ":".join(
            str(self.workdir) + part[len(IMAGE_WORKDIR) :]
            if part == IMAGE_WORKDIR or part.startswith(IMAGE_WORKDIR + "/")
            else part
            for part in value.split(":")
        )


def _replay(dockerfile: Path, context: Path, scratch: Path, uv_env: dict[str, str]) -> Image:
    image = Image(workdir=scratch / IMAGE_WORKDIR.lstrip("/"))
    for keyword, arguments in _instructions(dockerfile):
        if keyword == "WORKDIR":
            assert arguments == IMAGE_WORKDIR
            image.workdir.mkdir(parents=True)
        elif keyword == "ENV":
            for pair in shlex.split(arguments):
                name, value = pair.split("=", 1)
                value = image.here(value)
                image.env[name] = value.replace("$PATH", image.env.get("PATH", os.environ["PATH"]))
        elif keyword == "COPY":
            if arguments.startswith("--from="):
                continue  # uv's binary: this machine has its own
            *sources, destination = arguments.split()
            target = image.workdir / destination
            for source in sources:
                path = context / source
                if path.is_dir():
                    ignored = shutil.ignore_patterns("__pycache__")
                    shutil.copytree(path, target, ignore=ignored)
                else:
                    shutil.copy2(path, target / path.name if destination.endswith("/") else target)
        elif keyword == "RUN":
            for command in arguments.split("&&"):
                words = shlex.split(command)
                if words[0] == "uv":
                    subprocess.run(
                        [uv_env["UV"], *words[1:]],
                        cwd=image.workdir,
                        env={**uv_env, **image.env},
                        check=True,
                        capture_output=True,
                    )
                    image.ran.append(command.strip())
        elif keyword == "USER":
            image.user = arguments
        elif keyword == "HEALTHCHECK":
            image.healthcheck = json.loads(arguments.split(" CMD ", 1)[1])
        elif keyword == "CMD":
            image.cmd = json.loads(arguments)
    return image


def _as_user(uid: int, gid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def _runs_as(prefix: list[str], python: str) -> bool:
    check = [python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]
    return subprocess.run([*prefix, *check], capture_output=True).returncode == 0


@dataclass
class Runner:
    """Who runs the server, and the Python its virtualenv is made from (one that user can run)."""

    prefix: list[str]
    python: str | None


def _runner(image_user: str, database_url: str) -> Runner:
    if os.geteuid() != 0:
        return Runner([], None)  # an unprivileged user already, with its own Python
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no way to become an unprivileged user")
    uid, gid = (int(part) for part in image_user.split(":"))
    host = conninfo_to_dict(database_url).get("host")
    if host and Path(str(host)).is_dir():
        # A Unix socket in a directory only its owner may enter (the embedded test server's):
        # the server runs as that owner, who is no more privileged than the image's user.
        stat = Path(str(host)).stat()
        uid, gid = stat.st_uid, stat.st_gid
    assert uid != 0
    prefix = _as_user(uid, gid)
    candidates = [sys.executable, "/usr/local/bin/python3.11", "/usr/bin/python3.11"]
    for python in candidates:
        if Path(python).exists() and _runs_as(prefix, python):
            return Runner(prefix, python)
    pytest.skip(f"no Python 3.11+ that uid {uid} may run among {candidates}")


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("Uid:")]
    return int(line.split()[1])


async def test_the_image_recipe_installs_and_serves_the_seed_demo(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    dockerfile = ROOT / "Dockerfile"
    user = next(args for keyword, args in _instructions(dockerfile) if keyword == "USER")
    runner = _runner(user, database_url)
    uv_env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    uv_env["UV"] = os.environ.get("UV") or shutil.which("uv") or "uv"
    if runner.python:
        uv_env["UV_PYTHON"] = runner.python

    image = _replay(dockerfile, ROOT, scratch_dir, uv_env)

    assert image.ran == [
        "uv sync --frozen --no-dev --no-install-project",
        "uv sync --frozen --no-dev",
    ]
    copied = sorted(p.name for p in image.workdir.iterdir())
    assert copied == [".venv", "README.md", "api", "graph", "pyproject.toml", "uv.lock"]
    venv_bin = Path(image.env["UV_PROJECT_ENVIRONMENT"]) / "bin"
    # The dev tools stay out of the image.
    assert (venv_bin / "chat-server").exists() and not (venv_bin / "pytest").exists()

    # HOST=0.0.0.0 in the image, where the network is the container's; here, loopback only.
    env = server_environment(
        **{
            **image.env,
            "HOST": "127.0.0.1",
            "DATABASE_URL": database_url,
            "OPENAI_BASE_URL": openai_stub_url,
        }
    )
    command = [*runner.prefix, *image.cmd]
    async with chat_server_process(image.workdir, env, command=command) as server:
        assert _uid_of(server.process.pid) != 0
        healthcheck = [*runner.prefix, *image.healthcheck]
        env["PORT"] = server.url.rsplit(":", 1)[1]
        assert subprocess.run(healthcheck, env=env, capture_output=True).returncode == 0

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            # The original README's six steps, as curl sends them.
            bob = (await http.post("/chat")).text.strip()
            hello_bob = await http.post(f"/chat/{bob}", content="Hi, my name is Bob!")
            matt = (await http.post("/chat")).text.strip()
            hello_matt = await http.post(f"/chat/{matt}", content="Hi, my name is Matt!")
            bob_again = await http.post(f"/chat/{bob}", content="What's my name again?")
            matt_again = await http.post(f"/chat/{matt}", content="What's my name again?")
    assert "Hello Bob!" in hello_bob.text and "Hello Matt!" in hello_matt.text
    assert bob_again.text == "Your name is Bob.\n"
    assert matt_again.text == "Your name is Matt.\n"
    # Nothing answers any more: the health check says so.
    assert subprocess.run(healthcheck, env=env, capture_output=True).returncode != 0
