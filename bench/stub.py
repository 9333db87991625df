"""The model: devtools/openai_stub.py, whose replies' shape the benchmark sets while it runs.

One stub serves a whole run, so that every server is started once and pointed at it:
`PUT /bench/shape {"delay": D, "reply_tokens": N}` makes every later reply N tokens long with a
sleep of D seconds before each. Only this module imports the stub.

    python -m bench.stub --port 9100
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.openai_stub import StubBehaviour, create_stub, fixed_reply

SHAPE_PATH = "/bench/shape"


@dataclass(frozen=True)
class Shape:
    """The stub's replies: `reply_tokens` word tokens, each after `delay` seconds."""

    delay: float
    reply_tokens: int


def reply_tokens_for(chars: int) -> int:
    """The number of stub tokens whose reply comes closest to `chars` characters."""
    return min(range(1, chars + 1), key=lambda n: abs(len(fixed_reply(n)) - chars))


def reshape(stub_url: str, shape: Shape) -> None:
    body = {"delay": shape.delay, "reply_tokens": shape.reply_tokens}
    httpx.put(f"{stub_url}{SHAPE_PATH}", json=body, timeout=10.0).raise_for_status()


def create_app() -> Starlette:
    behaviour = StubBehaviour(reply=fixed_reply(1), record_requests=False)

    async def set_shape(request: Request) -> Response:
        body = await request.json()
        behaviour.token_delay = float(body["delay"])
        behaviour.reply = fixed_reply(int(body["reply_tokens"]))
        return Response(status_code=204)

    app = create_stub(behaviour)
    app.router.routes.append(Route(SHAPE_PATH, set_shape, methods=["PUT"]))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
