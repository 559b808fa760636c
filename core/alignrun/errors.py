"""The one exception type that the CLI turns into a one-line message and a non-zero exit, and the walk
down an exception's causes that finds it."""

from __future__ import annotations

from collections.abc import Iterator


class AlignrunError(Exception):
    """A user-facing error: bad input, a broken plugin, missing data.

    The CLI prints ``alignrun: error: <message>`` and exits with ``exit_code``; no traceback.
    Raise it wherever the user, not the code, has to change something.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it, then what caused that: each ``__cause__`` (``raise ... from``) or,
    failing that, ``__context__`` (raised while handling), innermost last.

    Hydra's ``instantiate`` and pluggy wrap what a target or hook raised, so the exception a check
    looks for (an :class:`AlignrunError`, a plugin's tag) may be anywhere down the chain. Stops at an
    exception already seen: a chain set by hand can loop.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__
