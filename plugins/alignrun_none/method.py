"""The ``none`` method: no training, no steering of its own."""

from __future__ import annotations

from alignrun.contracts import MethodResult, Run


class NoneMethod:
    """Returns the run's model untouched; the core loop evaluates it (with ``steering=``)."""

    def fit(self, run: Run) -> MethodResult:
        return MethodResult(lm=run.lm)
