"""What a session gives up of its history (api/store/retention.py `plan`), decided on the head's
path alone: which full copies go, and with a number of turns to keep, which checkpoints."""

from __future__ import annotations

from api.store.retention import Step, plan


def _path(*marks: str) -> list[Step]:
    """The head's path, newest first, one checkpoint a mark: `c` a full copy, `b` a checkpoint
    another branch leaves from, `i` an input checkpoint (a turn's first), `.` any other."""
    steps, turns = [], 0
    for depth, mark in enumerate(marks):
        turns += "i" in mark
        steps.append(
            Step(
                checkpoint_id=f"c{depth}",
                depth=depth,
                turns=turns,
                copy="c" in mark,
                versions={"messages": f"v{depth}"},
                branches="b" in mark,
            )
        )
    return steps


def _ids(steps: list[Step]) -> list[str]:
    return [s.checkpoint_id for s in steps]


def test_without_a_copy_nothing_goes() -> None:
    assert plan(_path(".", ".", "i", ".", "i"), None) == plan(_path(), None)
    decided = plan(_path(".", ".", "i"), 0)
    assert (decided.checkpoints, decided.copies) == ([], [])


def test_along_one_branch_only_the_newest_copy_stays() -> None:
    decided = plan(_path("c", ".", "i", "c", "i", ".", "c", "i"), None)
    assert _ids(decided.copies) == ["c3", "c6"]
    assert decided.checkpoints == []


def test_a_copy_another_branch_may_need_stays() -> None:
    # A branch leaves at c4: the copies from there back are what it rebuilds from.
    decided = plan(_path("c", ".", "c", "i", "b", "c", "i"), None)
    assert _ids(decided.copies) == ["c2"]


def test_a_number_of_turns_keeps_them_and_the_copy_they_rebuild_from() -> None:
    path = _path(".", ".", "i", "c", ".", "i", ".", "c", "i", ".", ".", "i", "c", "i")
    decided = plan(path, 2)
    # Turns 1 and 2 (to c5) rebuild from the copy at c7, the newest at least 2 turns back:
    # what is older goes; the newest copy (c3) stays, the head's reads rebuild from it.
    assert decided.checkpoints == ["c8", "c9", "c10", "c11", "c12", "c13"]
    assert decided.copies == []


def test_a_number_of_turns_never_deletes_what_another_branch_needs() -> None:
    path = _path(".", "i", "c", "i", ".", "b", "i", "c", "i")
    decided = plan(path, 0)
    # Down to the branch point only: it and its ancestors stay.
    assert decided.checkpoints == ["c3", "c4"]
    assert decided.copies == []
