"""Model sources for ``model=``: each config's ``_target_`` is a builder here returning an ``LM``.

:func:`build_lm` builds the model a composed config names, as the core loop does (``model.adapter``
folded in); use it in a plugin's tests: ``build_lm(compose(["model=tiny"]).model)``.
"""

from alignrun.models.adapter import build_lm

__all__ = ["build_lm"]
