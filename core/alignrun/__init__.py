"""alignrun: align a language model with several human values at once.

Importing this package is cheap on purpose (no torch): the CLI's ``--help`` and plugin
discovery go through it. The contracts a plugin author needs are re-exported here.
"""

from __future__ import annotations

from alignrun.contracts import Candidate, Intervention, Method, MethodResult, Scorer, Value
from alignrun.errors import AlignrunError
from alignrun.hookspecs import hookimpl
from alignrun.run import Run

__all__ = [
    "AlignrunError",
    "Candidate",
    "Intervention",
    "Method",
    "MethodResult",
    "Run",
    "Scorer",
    "Value",
    "hookimpl",
]
__version__ = "0.1.0"
