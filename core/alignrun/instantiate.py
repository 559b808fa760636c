"""Building objects from config nodes: Hydra's ``instantiate`` with alignrun's one-line errors.

Ground floor: every domain that builds a node it was given (values, data, judges, model adapters)
uses these, so none of them needs the config plumbing of :mod:`alignrun.config`.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from alignrun.errors import AlignrunError, causes


def build(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, but an :class:`AlignrunError` raised while building comes out as itself.

    Hydra wraps whatever a ``_target_`` raises in an ``InstantiationException``; a user error
    (missing data, unreachable model) must keep its one-line message.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = next((e for e in causes(exc) if isinstance(e, AlignrunError)), None)
        if cause is None:
            raise
        raise cause from exc


def build_checked(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """:func:`build` of ``node`` after :func:`alignrun.settings.check_call` on its arguments; an
    error the target raises that is not an :class:`AlignrunError` becomes one line naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import get_object

    from alignrun.settings import check_call

    try:
        target = get_object(str(node["_target_"]))
    except Exception as exc:
        raise AlignrunError(f"{key}._target_ '{node.get('_target_')}' does not import: {exc}") from None
    check_call(target, {str(k): node[k] for k in node}, key)
    try:
        return build(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        raise AlignrunError(f"{key}: {type(cause).__name__}: {cause}") from exc
