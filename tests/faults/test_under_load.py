"""Each fault of faults/injections.py under a steady load on two server processes: every reply a
client was told was saved is in the history, in order; no two turns interleave; no half turn; no
5xx but the documented 503; and every session is served again afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from devtools.databases import throwaway_database
from devtools.openai_stub import StubBehaviour
from faults.injections import FAULTS, Fault
from faults.postgres import CannotOwnPostgres, owned_postgres
from faults.scenario import Place, Shape, run

TOKEN_DELAY = 0.02
SHAPE = Shape(sessions=4, turns=40, words=20)


@pytest.fixture
def place(
    fault: Fault, request: pytest.FixtureRequest, scratch_dir: Path, openai_stub_url: str
) -> Iterator[Place]:
    """An empty database for the scenario: on the tests' server, or, for a fault that restarts
    PostgreSQL, on a server of the test's own (a cluster of the machine's binaries on the second
    CI pass, whose TEST_DATABASE_URL is the machine's server; else the embedded one)."""
    if not fault.restarts_postgres:
        yield Place(request.getfixturevalue("new_database"), openai_stub_url, scratch_dir)
        return
    kind = "machine" if os.environ.get("TEST_DATABASE_URL") else "embedded"
    with ExitStack() as stack:
        try:
            server = stack.enter_context(owned_postgres(scratch_dir, kind))
        except CannotOwnPostgres as error:
            pytest.skip(f"no PostgreSQL of the test's own to restart: {error}")
        database = stack.enter_context(throwaway_database(server.url, "faults"))
        yield Place(database, openai_stub_url, scratch_dir, server)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.slug)
async def test_no_turn_is_lost_or_tangled(
    fault: Fault, place: Place, stub_behaviour: StubBehaviour
) -> None:
    stub_behaviour.token_delay = TOKEN_DELAY
    stub_behaviour.record_requests = False
    result = await run(fault, place, SHAPE)
    assert not result.problems, result.explain()
    assert result.tally.lost == result.tally.interleaved == 0
