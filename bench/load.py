"""The load client: concurrent sessions that each send turns in a loop, timing every reply.

It runs as a process of its own (`python -m bench.load ...`) so that it does not share a core's
event loop with what it measures. It prints `measuring` when the measured window opens and
`measured` when it closes, then writes the result as JSON (`LoadResult`) to `--result`.

Each of `--concurrency` clients creates a session, sends `--warmup-turns` turns that are not
counted (they open the connections and warm the server's pools), waits for the others, then
sends turns back to back until `--max-turns` turns or `--duration` seconds, whichever comes
first. Their first measured turns are spread evenly over `--stagger` seconds, so that sessions
whose turns all take as long do not keep arriving together. A session that has had
`--session-turns` turns is followed by a new one, so that the history sent to the model stays
as long as a conversation's, whatever the load's duration.
Each session has an httpx.AsyncClient of its own, unless `--shared-client`.
Only 127.0.0.1 is ever addressed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from contextlib import AsyncExitStack
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

import httpx

Protocol = Literal["chat", "openai"]

_WORDS = (
    "the a session reply token model server stream time first turn message history of to and "
    "is in we it for on with as at by this that from be are was were will can may should data "
    "quick brown fox jumps over lazy dog postgres checkpoint latency tail budget queue worker"
).split()
MAX_ERROR_EXAMPLES = 5


@dataclass
class LoadResult:
    """What the clients measured; times in seconds."""

    ttft: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    errors: int = 0
    warmup_errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    client_cpu_seconds: float = 0.0

    def error(self, text: str) -> None:
        self.errors += 1
        self._example(text)

    def warmup_error(self, text: str) -> None:
        self.warmup_errors += 1
        self._example(text)

    def _example(self, text: str) -> None:
        if len(self.error_examples) < MAX_ERROR_EXAMPLES and text not in self.error_examples:
            self.error_examples.append(text)


@dataclass(frozen=True)
class Turn:
    ttft: float | None
    latency: float
    reply: str
    error: str | None


def make_message(rng: random.Random, chars: int) -> str:
    """Text of exactly `chars` characters, made of words."""
    words: list[str] = []
    while sum(len(w) + 1 for w in words) <= chars:
        words.append(rng.choice(_WORDS))
    return " ".join(words)[:chars].rstrip() or "hello"


async def chat_turn(http: httpx.AsyncClient, session: str, message: str) -> Turn:
    started = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    error: str | None = "the stream ended without `event: end`"
    headers = {"Accept": "text/event-stream", "Content-Type": "text/plain; charset=utf-8"}
    async with http.stream(
        "POST", f"/chat/{session}", content=message.encode(), headers=headers
    ) as response:
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            error = f"HTTP {response.status_code}: {body[:200]}"
        else:
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif not line.startswith("data: "):
                    continue
                elif event == "token":
                    if ttft is None:
                        ttft = time.perf_counter() - started
                    parts.append(json.loads(line[6:])["content"])
                elif event == "end":
                    error = None
                elif event == "error":
                    error = f"event: error {line[6:200]}"
    return Turn(ttft, time.perf_counter() - started, "".join(parts), error)


async def _openai_turn(http: httpx.AsyncClient, _session: str, message: str) -> Turn:
    started = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    error: str | None = "the stream ended without `data: [DONE]`"
    payload = {
        "model": "bench-stub",
        "stream": True,
        "messages": [{"role": "user", "content": message}],
    }
    async with http.stream("POST", "/v1/chat/completions", json=payload) as response:
        if response.status_code != 200:
            error = f"HTTP {response.status_code}"
        else:
            async for line in response.aiter_lines():
                if line == "data: [DONE]":
                    error = None
                elif line.startswith("data: "):
                    content = json.loads(line[6:])["choices"][0]["delta"].get("content")
                    if content:
                        if ttft is None:
                            ttft = time.perf_counter() - started
                        parts.append(content)
    return Turn(ttft, time.perf_counter() - started, "".join(parts), error)


async def create_session(http: httpx.AsyncClient, protocol: Protocol) -> str:
    if protocol == "openai":
        return "-"
    response = await http.post("/chat", headers={"Accept": "application/json"})
    response.raise_for_status()
    body = response.text
    return json.loads(body)["session_id"] if body.startswith("{") else body.strip()


@dataclass(frozen=True)
class LoadPlan:
    """A load, as the benchmark hands it to this process and as `--help` lists it."""

    base_url: str = field(metadata={"help": "http://127.0.0.1:PORT"})
    protocol: Protocol = field(default="chat", metadata={"help": "chat, or openai for the stub"})
    concurrency: int = field(default=1, metadata={"help": "sessions at once"})
    duration: float = field(default=10.0, metadata={"help": "seconds of measured turns"})
    max_turns: int = field(default=1_000_000, metadata={"help": "per session"})
    warmup_turns: int = field(default=1, metadata={"help": "per session, not measured"})
    session_turns: int = field(default=20, metadata={"help": "turns of a session, then a new one"})
    stagger: float = field(
        default=0.0, metadata={"help": "seconds over which the first measured turns are spread"}
    )
    message_chars: int = field(default=100, metadata={"help": "length of each message"})
    seed: int = field(default=1, metadata={"help": "of the messages' words"})
    shared_client: bool = field(
        default=False, metadata={"help": "one httpx.AsyncClient for all sessions"}
    )

    def argv(self) -> list[str]:
        """The options that make `python -m bench.load` run this load."""
        options: list[str] = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.type == "bool":
                options += [_flag(spec.name)] if value else []
            else:
                options += [_flag(spec.name), str(value)]
        return options

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
        parser.add_argument("--result", type=Path, required=True, help="file for the result")
        for spec in fields(cls):
            if spec.type == "bool":
                parser.add_argument(_flag(spec.name), action="store_true", **spec.metadata)
                continue
            required = spec.default is MISSING
            parser.add_argument(
                _flag(spec.name),
                type=_TYPES[str(spec.type)],
                choices=get_args(Protocol) if spec.type == "Protocol" else None,
                required=required,
                default=None if required else spec.default,
                **spec.metadata,
            )
        return parser


_TYPES = {"str": str, "int": int, "float": float, "Protocol": str}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


async def _client(
    http: httpx.AsyncClient,
    plan: LoadPlan,
    index: int,
    start: asyncio.Event,
    warmed: asyncio.Queue[None],
    window: list[float],
    result: LoadResult,
) -> float:
    """One session's loop; returns when it finished its last measured turn."""
    turn = _openai_turn if plan.protocol == "openai" else chat_turn
    rng = random.Random(plan.seed * 100_003 + index)
    session = await create_session(http, plan.protocol)
    for _ in range(plan.warmup_turns):
        try:
            warmup = await turn(http, session, make_message(rng, plan.message_chars))
        except httpx.HTTPError as error:
            result.warmup_error(f"{type(error).__name__}: {error}")
            continue
        if warmup.error is not None or warmup.ttft is None:
            result.warmup_error(warmup.error or "a reply without any token")
    session_turns = plan.warmup_turns
    warmed.put_nowait(None)
    await start.wait()
    await asyncio.sleep(plan.stagger * index / plan.concurrency)
    finished = time.perf_counter()
    for _ in range(plan.max_turns):
        if time.perf_counter() >= window[1]:
            break
        message = make_message(rng, plan.message_chars)
        try:
            if session_turns >= plan.session_turns:
                session = await create_session(http, plan.protocol)
                session_turns = 0
            session_turns += 1
            outcome = await turn(http, session, message)
        except httpx.HTTPError as error:
            result.error(f"{type(error).__name__}: {error}")
            continue
        finished = time.perf_counter()
        if outcome.error is not None or outcome.ttft is None:
            result.error(outcome.error or "a reply without any token")
            continue
        result.ttft.append(outcome.ttft)
        result.latency.append(outcome.latency)
    return finished


async def _clients(plan: LoadPlan, stack: AsyncExitStack) -> list[httpx.AsyncClient]:
    """An httpx.AsyncClient for each session, or one that they all share.

    A shared client's connection pool (httpcore) walks all its connections, probing the idle
    ones' sockets, for every request it places: at 100 sessions that took most of the client's
    CPU and made the client the bottleneck. A client per session keeps that cost constant.
    """
    timeout = httpx.Timeout(60.0, connect=10.0)
    if plan.shared_client:
        size = max(200, 2 * plan.concurrency)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        shared = httpx.AsyncClient(base_url=plan.base_url, limits=limits, timeout=timeout)
        return [await stack.enter_async_context(shared)] * plan.concurrency
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    return [
        await stack.enter_async_context(
            httpx.AsyncClient(base_url=plan.base_url, limits=limits, timeout=timeout)
        )
        for _ in range(plan.concurrency)
    ]


async def run(plan: LoadPlan) -> LoadResult:
    if urlsplit(plan.base_url).hostname != "127.0.0.1":
        raise SystemExit("the load client only sends traffic to 127.0.0.1")
    result = LoadResult()
    start = asyncio.Event()
    warmed: asyncio.Queue[None] = asyncio.Queue()
    window = [0.0, 0.0]
    async with AsyncExitStack() as stack:
        clients = [
            asyncio.create_task(_client(http, plan, i, start, warmed, window, result))
            for i, http in enumerate(await _clients(plan, stack))
        ]
        for _ in range(plan.concurrency):
            waiting = asyncio.create_task(warmed.get())
            await asyncio.wait([waiting, *clients], return_when=asyncio.FIRST_COMPLETED)
            failed = [c for c in clients if c.done() and c.exception() is not None]
            if failed:
                waiting.cancel()
                for client in clients:
                    client.cancel()
                raise failed[0].exception()  # type: ignore[misc]
        print("measuring", flush=True)
        cpu_before = time.process_time()
        # When every warm-up turn failed, the measured turns would only fail the same way.
        hopeless = 0 < plan.warmup_turns * plan.concurrency == result.warmup_errors
        duration = 0.0 if hopeless else plan.duration
        window[:] = [time.perf_counter(), time.perf_counter() + duration]
        start.set()
        ends = await asyncio.gather(*clients)
        result.elapsed = max(ends) - window[0]
        result.client_cpu_seconds = time.process_time() - cpu_before
        print("measured", flush=True)
    return result


def main() -> None:
    args = vars(LoadPlan.parser().parse_args())
    result_path = args.pop("result")
    plan = LoadPlan(**args)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(plan))
    else:
        # The event loop uvicorn uses too: the client should not be the slower side.
        result = uvloop.run(run(plan))
    result_path.write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
