"""Which server code a run measured: the commit, uncommitted changes, and whether it moved."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_CODE = ("api", "graph", "pyproject.toml", "uv.lock")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


def _digest() -> str:
    digest = hashlib.sha256()
    for top in SERVER_CODE:
        path = ROOT / top
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CodeState:
    commit: str
    changed: list[str]
    digest: str

    @classmethod
    def now(cls) -> CodeState:
        status = _git("status", "--porcelain", "--", *SERVER_CODE)
        changed = [line[3:] for line in status.splitlines() if line.strip()]
        commit = _git("rev-parse", "--short", "HEAD").strip() or "unknown"
        return cls(commit, changed, _digest())

    def describe(self) -> str:
        if not self.changed:
            return f"commit {self.commit}"
        return f"commit {self.commit} with uncommitted changes to {', '.join(self.changed)}"
