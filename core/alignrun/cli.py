"""The ``alignrun`` console script: Hydra's main, with alignrun's checks in front of it.

Before Hydra creates any output dir, the command line is checked for the mistakes users
make most (no method, ``method=`` without ``+``, unknown method or value) so they get one
line and exit code 2 instead of a half-made run dir. ``--help`` stays torch-free.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from alignrun.config import (
    CONFIG_MODULE,
    CONFIG_NAME,
    check_config,
    compose,
    installed_options,
    no_method_message,
    register_searchpath_plugin,
)
from alignrun.errors import AlignrunError
from alignrun.plots import load_baselines

_INFO_FLAGS = ("help", "hydra_help", "info", "shell_completion", "cfg", "resolve")


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"alignrun: error: {message}", file=sys.stderr)
    sys.exit(code)


def _choices(override: Any) -> Iterator[Any]:
    """The option(s) an override selects: one, or each of a sweep's."""
    yield from override.sweep_iterator() if override.is_sweep_override() else [override.value()]


def preflight(args: list[str]) -> None:
    """Check the command line's method and values against what is installed.

    Raises:
        AlignrunError: no ``+method=``, ``method=`` without ``+``, an unknown method or value.
    """
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        ns = get_args_parser().parse_args(args)
        overrides = OverridesParser.create().parse_overrides(ns.overrides)
    except (SystemExit, HydraException):
        return  # malformed command line: Hydra itself reports it
    if any(getattr(ns, flag, False) for flag in _INFO_FLAGS):
        return
    by_key = {o.key_or_group: o for o in overrides if not o.is_delete()}
    method = by_key.get("method")
    if method is None:
        if "experiment" not in by_key:  # an experiment may bring its own method
            raise AlignrunError(no_method_message())
    elif not method.is_add():
        raise AlignrunError(
            f"write +method={method.get_value_element_as_str()} (with '+': "
            "method is not in the defaults list, so it is appended)"
        )
    else:
        known = installed_options("method")
        for choice in _choices(method):
            if str(choice) not in known:
                raise AlignrunError(f"unknown method '{choice}'; installed methods: {', '.join(known)}")
    if "values" in by_key:
        known = installed_options("values")
        for choice in _choices(by_key["values"]):
            for name in choice if isinstance(choice, list) else [choice]:
                if str(name) not in known:
                    raise AlignrunError(f"unknown value '{name}'; available values: {', '.join(known)}")
    if not ns.multirun:  # a sweep's jobs are composed by Hydra's sweeper, one by one
        cfg = _compose_or_explain(ns.overrides)
        check_config(cfg)
        load_baselines(list(cfg.results.baselines))  # before Hydra makes the run dir


def _compose_or_explain(overrides: list[str]) -> DictConfig:
    """Compose as Hydra will; a composition error becomes one AlignrunError line."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        parts = [str(exc), str(exc.__cause__ or "")]
        lines = [ln.strip() for part in parts for ln in part.splitlines()]
        keep = [ln for ln in lines if ln and not ln.startswith(("object_type=", "Set the environment"))]
        raise AlignrunError("; ".join(dict.fromkeys(keep))) from exc


def user_error(exc: BaseException) -> AlignrunError | None:
    """The AlignrunError behind ``exc`` (Hydra's instantiate wraps what targets raise)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AlignrunError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _task(cfg: DictConfig) -> None:
    from hydra.errors import InstantiationException

    from alignrun.loop import run_job

    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        run_job(cfg, out)
        if (
            int(os.environ.get("RANK", "0")) == 0
        ):  # say where the results are: a newcomer had to hunt for them
            print(f"alignrun: run dir {out}\nalignrun: report  {out / 'report.md'}", flush=True)
    except Exception as exc:
        err = user_error(exc)
        if err is not None:
            _fail(str(err), err.exit_code)
        if isinstance(exc, InstantiationException) and not os.environ.get("HYDRA_FULL_ERROR"):
            _fail(
                f"{str(exc).splitlines()[0]} {exc.__cause__ or ''} (HYDRA_FULL_ERROR=1 shows the traceback)",
                1,
            )
        raise


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``alignrun`` console script (``argv`` defaults to ``sys.argv[1:]``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        register_searchpath_plugin()
        from alignrun.plugins import get_plugin_manager

        get_plugin_manager()  # a broken plugin fails here, named, before Hydra starts
        preflight(args)
    except AlignrunError as err:
        _fail(str(err), err.exit_code)
    rank = int(os.environ.get("RANK", "0"))
    if rank > 0:  # under torchrun only rank 0 writes: keep this rank's Hydra files out of the outputs
        scratch = Path(tempfile.gettempdir()) / f"alignrun-rank{rank}-{os.getpid()}"
        args = [*args, f"hydra.run.dir={scratch}", "hydra.output_subdir=null", "hydra/job_logging=none"]
    hydra_main = hydra.main(config_path=f"pkg://{CONFIG_MODULE}", config_name=CONFIG_NAME, version_base="1.3")
    saved = sys.argv
    sys.argv = [saved[0] if saved else "alignrun", *args]
    try:
        hydra_main(_task)()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()
