"""Ctrl-C can't be lost: a ``KeyboardInterrupt`` raised inside a finaliser is swallowed by CPython
("Exception ignored in ..."), so the handler records the signal and the long loops re-raise it."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from alignrun import interrupts


class _SignalledInFinaliser:
    """Sends SIGINT to this process from ``__del__``: the handler runs there, as it can in a real run
    when the signal lands while the garbage collector finalises something."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # bytecode, so the interpreter runs the Python-level handler here
            pass


def test_a_ctrl_c_swallowed_by_a_finaliser_is_raised_again(monkeypatch: pytest.MonkeyPatch) -> None:
    swallowed: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_type))
    with interrupts.handled():
        interrupts.check()  # nothing received: nothing raised
        _SignalledInFinaliser()  # dropped at once; its KeyboardInterrupt goes nowhere
        assert swallowed == [KeyboardInterrupt]  # CPython swallowed it ("Exception ignored in ...")
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()


def test_handlers_are_restored_and_the_request_forgotten_after_the_run() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupts.handled():
        os.kill(os.getpid(), signal.SIGTERM)  # a scheduler's kill ends the run as Ctrl-C does
        for _ in range(10_000):
            pass
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    interrupts.check()  # the next run in this process starts clean
