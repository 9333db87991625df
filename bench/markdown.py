"""Markdown tables of figures: a row per target, and the chat server's figures over the
baseline's beneath them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bench.results import Halves, Kind, LoadRun, PeakMemory, StateReads, StorageRun, ratio
from bench.targets import show

VERSUS = "chat-server ÷ baseline"
KIND_ORDER: tuple[Kind, ...] = ("stub", "floor", "server", "baseline")
T = TypeVar("T", LoadRun, StorageRun, PeakMemory, Halves, StateReads)
Value = float | str


def byte_size(count: float) -> str:
    if math.isnan(count):
        return "—"
    if count >= 1 << 20:
        return f"{count / (1 << 20):.1f} MiB"
    if count >= 1 << 10:
        return f"{count / (1 << 10):.0f} KiB"
    return f"{count:.0f} B"


def exact_bytes(count: float) -> str:
    return "—" if math.isnan(count) else f"{count:,.0f} B"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


@dataclass(frozen=True)
class Column(Generic[T]):
    """A column of figures: how to read one from a row's subject, and how to show it."""

    header: str
    value: Callable[[T], Value]
    # "n" for a count, "size" for bytes, "B" for bytes to the byte, else as `show` takes it
    unit: str = ""
    compared: bool = True  # shown in the chat-server ÷ baseline row

    def cell(self, subject: T) -> str:
        value = self.value(subject)
        if isinstance(value, str):
            return value
        if self.unit == "size":
            return byte_size(value)
        if self.unit == "B":
            return exact_bytes(value)
        if self.unit == "n":
            return "—" if math.isnan(value) else f"{value:.0f}"
        return show(value, self.unit)

    def versus(self, server: T, baseline: T) -> str:
        if not self.compared:
            return ""
        a, b = self.value(server), self.value(baseline)
        if isinstance(a, str) or isinstance(b, str):
            return ""
        return show(ratio(a, b), "×")


Group = tuple[str, dict[Kind, T]]  # a label, and the subjects of its rows by target kind


def figure_rows(groups: list[Group[T]], columns: list[Column[T]]) -> list[list[str]]:
    """Per group, a row per subject, then the chat server's figures over the baseline's."""
    rows: list[list[str]] = []
    for label, subjects in groups:
        for kind in KIND_ORDER:
            if kind in subjects:
                subject: T = subjects[kind]
                rows.append([subject.target.label, label, *(c.cell(subject) for c in columns)])
        if "server" in subjects and "baseline" in subjects:
            cells: list[str] = [c.versus(subjects["server"], subjects["baseline"]) for c in columns]
            rows.append([f"*{VERSUS}*", label, *cells])
    return rows


def group_table(
    header: str, label: str, subjects: dict[Kind, T], columns: list[Column[T]]
) -> list[str]:
    """A table of one group: its second column headed `header`, with `label` on every row."""
    return table(
        ["target", header, *(c.header for c in columns)], figure_rows([(label, subjects)], columns)
    )
