"""Holding this server's LangGraph API against `langgraph dev`'s: what may differ, and the shape
of a JSON value to compare where the values themselves differ (ids, times)."""

from __future__ import annotations

from typing import Any

# Keys of a token's metadata that only langgraph-api's own deployment has to tell (and the
# checkpoint a run was asked to start from, which it copies in from the run's config).
SERVER_ONLY_METADATA = {
    "checkpoint_id",
    "created_by",
    "run_attempt",
    "langgraph_version",
    "langgraph_api_version",
    "langgraph_plan",
    "langgraph_host",
    "langgraph_api_url",
    "ls_temperature",
}


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and kinds, without the values themselves."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def same_metadata_keys(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether a token's metadata here has the keys langgraph-api's has, bar its server's own."""
    return set(ours) <= set(theirs) and set(theirs) - set(ours) <= SERVER_ONLY_METADATA
