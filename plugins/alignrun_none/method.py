"""The ``none`` method: no training, no steering of its own."""

from __future__ import annotations

from alignrun.contracts import MethodResult
from alignrun.run import Run


class NoneMethod:
    """Returns the run's model untouched; the core loop evaluates it (with ``steering=``)."""

    changes_model = False  # the loop need not measure a "before" apart from the final model

    def fit(self, run: Run) -> MethodResult:
        return MethodResult(lm=run.lm)
