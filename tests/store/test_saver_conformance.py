"""PooledPostgresSaver against LangGraph's own checkpointer contract
(langgraph-checkpoint-conformance), set up alone on an empty database, with the latest-state
memory off and on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES

from api.store.saver import PooledPostgresSaver

if TYPE_CHECKING:
    from tests.store.conftest import OpenSaver


@pytest.mark.parametrize("cached_sessions", [0, 1000])
async def test_the_saver_passes_the_conformance_suite(
    saver_alone: OpenSaver, cached_sessions: int
) -> None:
    # The suite asks for a new saver for each capability; the first finds the database empty.
    @checkpointer_test(name=f"PooledPostgresSaver, cached_sessions={cached_sessions}")
    async def pooled_saver() -> AsyncIterator[PooledPostgresSaver]:
        async with saver_alone(cached_sessions=cached_sessions) as saver:
            yield saver

    report = await validate(pooled_saver)
    failures = {
        name: result.failures
        for name, result in report.results.items()
        if result.detected and not result.passed
    }
    assert failures == {}
    passed = {name for name, result in report.results.items() if result.passed}
    assert passed >= {capability.value for capability in BASE_CAPABILITIES}
