"""The latest state of the sessions a process used last, kept whole in memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import (
    Checkpoint,
    CheckpointTuple,
    PendingWrite,
    writes_sort_key,
)

DeltaChannels = Mapping[str, DeltaChannel[Any]]


def checkpoint_id(config: RunnableConfig | None) -> str | None:
    return None if config is None else config["configurable"].get("checkpoint_id")


def with_values(checkpoint: Checkpoint, values: dict[str, Any]) -> Checkpoint:
    return {**checkpoint, "channel_values": values}


class LatestCheckpoints:
    """The latest checkpoint of up to `size` sessions, each with its delta channels' values
    whole, so that reading it replays nothing.

    Only ever served after PostgreSQL confirms it is still the latest, so every process stays
    stateless: a turn taken by another process, or a deletion, simply misses here.
    """

    def __init__(self, size: int, channels: DeltaChannels) -> None:
        self._size = size
        self._channels = channels
        self._tuples: OrderedDict[str, CheckpointTuple] = OrderedDict()
        # Per session, the delta writes saved on one checkpoint (the anchor) that no checkpoint
        # holds yet, each with its sort key: they replay in the order the saver reads them.
        # LangGraph may save a new thread's first writes before the checkpoint they hang on.
        self._writes: dict[str, tuple[str | None, list[tuple[Any, PendingWrite]]]] = {}

    def get(self, thread_id: str) -> CheckpointTuple | None:
        """The session's remembered checkpoint, unless writes were saved on it since: pending
        writes, which only PostgreSQL has all of."""
        found = self._tuples.get(thread_id)
        if found is None:
            return None
        anchor, noted = self._writes.get(thread_id, (None, []))
        if noted and anchor == checkpoint_id(found.config):
            return None
        self._tuples.move_to_end(thread_id)
        return found

    def remember(self, saved: CheckpointTuple) -> None:
        """Keeps `saved`, whose delta channels must hold their whole values."""
        if self._size == 0:
            return
        thread_id = saved.config["configurable"]["thread_id"]
        self._tuples[thread_id] = saved
        self._tuples.move_to_end(thread_id)
        anchor, _ = self._writes.get(thread_id, (None, []))
        if anchor != checkpoint_id(saved.config):
            self._writes.pop(thread_id, None)
        while len(self._tuples) > self._size:
            evicted, _ = self._tuples.popitem(last=False)
            self._writes.pop(evicted, None)

    def forget(self, thread_id: str) -> None:
        self._tuples.pop(thread_id, None)
        self._writes.pop(thread_id, None)

    def wrote(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        """Notes writes saved on a checkpoint: its next checkpoint's delta channels are made of
        them."""
        thread_id = config["configurable"]["thread_id"]
        anchor = checkpoint_id(config)
        noted_anchor, noted = self._writes.get(thread_id, (None, []))
        if noted_anchor != anchor:
            noted = []
            self._writes[thread_id] = (anchor, noted)
        noted.extend(
            (writes_sort_key(task_path, task_id, index), (task_id, channel, value))
            for index, (channel, value) in enumerate(writes)
        )

    def saved(self, saved: CheckpointTuple) -> None:
        """Remembers a checkpoint just written, its delta channels rebuilt from the one before
        and the writes saved on that one; forgets the session if they are not all here.

        LangGraph makes a checkpoint durable only after the writes it is made of, so by now
        every one of them has been noted."""
        thread_id = saved.config["configurable"]["thread_id"]
        parent_id = checkpoint_id(saved.parent_config)
        parent = self._tuples.get(thread_id)
        anchor, noted = self._writes.get(thread_id, (None, []))
        writes = [w for _, w in sorted(noted, key=lambda n: n[0])] if anchor == parent_id else []
        values = dict(saved.checkpoint["channel_values"])
        for name, spec in self._channels.items():
            if name in values:  # a full copy, written this time
                values[name] = spec.from_checkpoint(values[name]).get()
            elif name in saved.checkpoint["channel_versions"]:
                if parent is None or checkpoint_id(parent.config) != parent_id:
                    self.forget(thread_id)
                    return
                channel = spec.from_checkpoint(parent.checkpoint["channel_values"].get(name))
                channel.replay_writes([w for w in writes if w[1] == name])
                values[name] = channel.get()
        self.remember(saved._replace(checkpoint=with_values(saved.checkpoint, values)))
