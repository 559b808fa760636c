"""The walk down an exception's causes that the CLI, the plugin manager and ``build`` share."""

from __future__ import annotations

import pytest

from alignrun.errors import AlignrunError, causes


def test_causes_follow_cause_then_context_innermost_last() -> None:
    inner = AlignrunError("the user's error")
    with pytest.raises(KeyError) as info:
        try:
            raise inner
        except AlignrunError:
            raise KeyError("raised while handling")  # noqa: B904 (the implicit context is the point)
    middle = info.value
    outer = RuntimeError("wrapped")
    outer.__cause__ = middle
    assert middle.__context__ is inner
    assert list(causes(outer)) == [outer, middle, inner]
    assert list(causes(inner)) == [inner]


def test_an_explicit_cause_wins_over_the_context() -> None:
    context, cause = ValueError("context"), TypeError("cause")
    exc = RuntimeError("both")
    exc.__context__, exc.__cause__ = context, cause
    assert list(causes(exc)) == [exc, cause]


def test_a_chain_that_loops_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert list(causes(a)) == [a, b]
