"""The servers' code and environments: the working tree and, with `--baseline REF`, a commit
checked out in a git worktree, each installed as the image installs it (`uv sync --frozen
--no-dev`), apart from the development environment the benchmark itself runs in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
CURRENT_VENV = ROOT / ".data" / "bench-venv"
WORKTREES = ROOT / ".data" / "bench-worktrees"
SERVER_CODE = ("api", "graph", "pyproject.toml", "uv.lock")
# Packages whose presence or version has moved the figures before (bench/why.md).
TELLING_PACKAGES = (
    "uvicorn",
    "uvloop",
    "httptools",
    "aiohttp",
    "openai",
    "langchain-openai",
    "langgraph",
    "langgraph-checkpoint-postgres",
)
_VERSIONS = """
import importlib.metadata, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=600
        )
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"bench: `{' '.join(command)}` failed:\n{error.stderr.strip()}") from None
    return done.stdout


def _git(*args: str) -> str:
    return _run(["git", *args], ROOT)


@dataclass(frozen=True)
class CodeState:
    """The working tree's server code: its commit, what is uncommitted, and a digest."""

    commit: str
    changed: list[str]
    digest: str

    @classmethod
    def now(cls) -> CodeState:
        status = _git("status", "--porcelain", "--", *SERVER_CODE)
        changed = [line[3:] for line in status.splitlines() if line.strip()]
        digest = hashlib.sha256()
        for top in SERVER_CODE:
            path = ROOT / top
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                if file.is_file() and "__pycache__" not in file.parts:
                    digest.update(str(file.relative_to(ROOT)).encode())
                    digest.update(file.read_bytes())
        return cls(_git("rev-parse", "--short", "HEAD").strip(), changed, digest.hexdigest())

    def describe(self) -> str:
        if not self.changed:
            return f"commit {self.commit}"
        return f"commit {self.commit} with uncommitted changes to {', '.join(self.changed)}"


@dataclass(frozen=True)
class Install:
    """A chat server's code in an environment of its own."""

    role: str
    code: str
    venv: Path
    packages: dict[str, str | None]

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def chat_server(self) -> str:
        return str(self.venv / "bin" / "chat-server")

    def describe(self) -> str:
        where = self.venv.relative_to(ROOT) if self.venv.is_relative_to(ROOT) else self.venv
        packages = ", ".join(f"{name} {v or '—'}" for name, v in self.packages.items())
        return f"{self.code}, installed by `uv sync --frozen --no-dev` into {where} ({packages})"


def _install(role: str, source: Path, venv: Path, code: str) -> Install:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    _run([uv, "sync", "--frozen", "--no-dev", "--quiet"], source, env)
    versions = _run([str(venv / "bin" / "python"), "-c", _VERSIONS, *TELLING_PACKAGES], source)
    return Install(role, code, venv, json.loads(versions))


def current() -> Install:
    """The working tree as it is, uncommitted changes included (the install is editable)."""
    return _install("chat-server", ROOT, CURRENT_VENV, CodeState.now().describe())


@contextmanager
def baseline(ref: str) -> Iterator[Install]:
    """`ref` in a git worktree of its own under .data/, removed afterwards."""
    commit = _git("rev-parse", "--verify", "--short", f"{ref}^{{commit}}").strip()
    path = WORKTREES / f"{commit}-{uuid4().hex[:6]}"
    _git("worktree", "add", "--detach", str(path), commit)
    try:
        yield _install("baseline", path, path / ".venv", f"commit {commit} (`--baseline {ref}`)")
    finally:
        _git("worktree", "remove", "--force", str(path))
