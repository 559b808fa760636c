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
from contextlib import suppress
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from alignrun import distributed, interrupts
from alignrun.config import (
    CONFIG_MODULE,
    CONFIG_NAME,
    check_config,
    check_settings,
    compose,
    installed_options,
    no_method_message,
    register_searchpath_plugin,
)
from alignrun.errors import AlignrunError, causes
from alignrun.plots import load_baselines
from alignrun.plugins import autoload_hint
from alignrun.settings import describe

# single-choice config groups a command line picks an option of (methods and values are checked apart)
CHOICE_GROUPS = ("steering", "model", "profile", "experiment", "data")
_INFO_FLAGS = ("help", "hydra_help", "info", "shell_completion", "cfg", "resolve")
# options of Hydra's config groups that `pip install 'alignrun[sweeps]'` adds (docs/sweeps.md)
SWEEPS_EXTRA = {"hydra/launcher": ("submitit_local", "submitit_slurm"), "hydra/sweeper": ("optuna",)}


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
                raise AlignrunError(
                    f"unknown method '{choice}'; installed methods: {', '.join(known)}{autoload_hint()}"
                )
    for group in CHOICE_GROUPS:  # a misspelt option: one line, not Hydra's whole search path
        if group in by_key and not by_key[group].is_delete():
            known = installed_options(group)
            for choice in _choices(by_key[group]):
                if str(choice) not in known:
                    raise AlignrunError(
                        f"unknown {group} '{choice}'; options: {', '.join(known)}{autoload_hint()}"
                    )
    if "values" in by_key:
        known = installed_options("values")
        for choice in _choices(by_key["values"]):
            names = [str(n) for n in (choice if isinstance(choice, list) else [choice])]
            for name in names:
                if name not in known:
                    raise AlignrunError(
                        f"unknown value '{name}'; available values: {', '.join(known)}{autoload_hint()}"
                    )
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:  # Hydra's defaults list would drop the repeat silently
                raise AlignrunError(f"values=[{','.join(names)}] names {', '.join(twice)} twice")
    jobs = _jobs(ns.overrides, overrides, bool(ns.multirun))
    if not jobs:  # another sweeper's jobs: at least the plugins it needs are installed
        _check_sweeps_plugins(
            [a for a, o in zip(ns.overrides, overrides, strict=True) if not o.is_sweep_override()]
        )
    for job in jobs:
        cfg = _compose_or_explain(job)
        check_config(cfg)
        check_settings(cfg)
        if ns.multirun:
            _check_directions(cfg)
        load_baselines(list(cfg.results.baselines))  # before Hydra makes the run dir
    if not ns.multirun:
        _own_run_dir(cfg, explicit="hydra.run.dir" in by_key)
    elif jobs:  # another sweeper's jobs are composed as each starts: its sweep dir is its own business
        _own_sweep_dir(cfg, resume=bool(cfg.resume))


def _own_sweep_dir(cfg: DictConfig, resume: bool) -> None:
    """One sweep per sweep dir: it is not another live sweep's (locked by the process that launches
    the jobs, for as long as they run), nor a finished one's (its ``summary.json``; ``resume=true``
    continues its jobs)."""
    from alignrun import run_dir

    if distributed.rank() > 0:
        return
    out = Path(str(cfg.hydra.sweep.dir))
    _check_writable(out)
    if (out / "summary.json").exists() and not resume:
        raise AlignrunError(
            f"sweep dir {out} holds a finished sweep (summary.json); choose another hydra.sweep.dir, "
            "delete the dir, or pass resume=true to continue its jobs"
        )
    try:
        run_dir.claim(out)
    except AlignrunError:
        raise AlignrunError(
            f"sweep dir {out} is in use by another alignrun sweep; wait for it to end or choose another "
            "hydra.sweep.dir"
        ) from None


def _own_run_dir(cfg: DictConfig, explicit: bool) -> None:
    """Before Hydra writes ``.hydra/`` into the run dir: it is not another live run's, not a
    finished run's, and a resume continues the run there with its settings; then lock it."""
    from alignrun import run_dir

    if distributed.rank() > 0:  # rank 0 owns the dir; the others write to scratch
        return
    _check_writable(Path(str(cfg.hydra.run.dir)))
    if not explicit:  # a fresh timestamped dir: nothing to resume, nothing to overwrite
        if cfg.resume:
            raise AlignrunError("resume=true needs hydra.run.dir=<the dir of the run to continue>")
        return
    out = Path(str(cfg.hydra.run.dir))
    if cfg.resume:
        run_dir.check_resume(out, cfg)
    else:
        run_dir.check_reuse(out, resume=False)
    run_dir.claim(out)  # held until this process ends; run_job's claim of the same dir is a no-op


def _jobs(args: list[str], overrides: list[Any], multirun: bool) -> list[list[str]]:
    """The override lists of the jobs the command line runs: itself, or each job of a basic sweep
    (every combination is checked before the sweep dir exists; another sweeper's jobs are checked
    as each one starts)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.errors import HydraException

    if not multirun:
        return [args]
    if any(o.key_or_group in ("hydra/sweeper", "hydra.sweeper") for o in overrides):
        return []
    try:
        return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    except HydraException:  # a range or interval sweep: the basic sweeper will say so itself
        return []


def _compose_or_explain(overrides: list[str]) -> DictConfig:
    """Compose as Hydra will; a composition error becomes one AlignrunError line."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        parts = [str(exc), str(exc.__cause__ or "")]
        typed = _not_converted(exc)
        if typed:  # OmegaConf's error for a typed key, in the words every other check uses
            key, wanted, value = typed
            raise AlignrunError(f"{key} wants {wanted}, got '{value}'") from exc
        missing = _missing_sweeps_plugin(exc)
        if missing:
            group, option = missing
            raise AlignrunError(
                f"{group}={option} needs Hydra's {option.split('_')[0]} plugin: "
                "pip install 'alignrun[sweeps]' (docs/sweeps.md)"
            ) from exc
        lines = [ln.strip() for part in parts for ln in part.splitlines()]
        keep = [ln for ln in lines if ln and not ln.startswith(("object_type=", "Set the environment"))]
        raise AlignrunError("; ".join(dict.fromkeys(keep))) from exc


def _not_converted(exc: BaseException) -> tuple[str, str, Any] | None:
    """``(full key, the type it wants in words, the value given)`` when ``exc`` (or its cause) is
    OmegaConf failing to convert an override to a typed schema key's int, float or Path.

    A bool key's error (OmegaConf: "is not a valid bool") and a null given to a key that takes
    none are left to the general message, as they always were.
    """
    from omegaconf.errors import ValidationError
    from omegaconf.nodes import FloatNode, IntegerNode, PathNode

    wants = {IntegerNode: int, FloatNode: float, PathNode: Path}
    for link in (exc, exc.__cause__):
        if isinstance(link, ValidationError) and link.value is not None:
            hint = wants.get(type(link.child_node))
            if hint is not None and link.full_key:
                return link.full_key, describe(hint), link.value
    return None


def _missing_sweeps_plugin(exc: BaseException) -> tuple[str, str] | None:
    """``(group, option)`` when ``exc`` (or its cause) is Hydra missing a launcher or sweeper that
    ``pip install 'alignrun[sweeps]'`` adds."""
    for link in (exc, exc.__cause__):
        group, _, option = str(getattr(link, "missing_cfg_file", None) or "").rpartition("/")
        if option in SWEEPS_EXTRA.get(group, ()):
            return group, option
    return None


def _check_sweeps_plugins(fixed: list[str]) -> None:
    """Compose the command line's fixed overrides (the sweeper varies the rest) only to find a
    launcher or sweeper that is not installed; any other error is the sweeper's to report, for a
    fixed override may need a choice the sweeper makes (``+method=choice(dpo,mva) method.beta=0.2``)."""
    try:
        cfg = _compose_or_explain(fixed)
    except AlignrunError as err:
        if "pip install 'alignrun[sweeps]'" in str(err):
            raise
        return
    _check_directions(cfg)
    _own_sweep_dir(cfg, resume=bool(cfg.get("resume")))


def _check_directions(cfg: DictConfig) -> None:
    """An optimising sweeper's objectives are the run's value scores, one per value
    (:func:`objectives`): a ``direction`` list of another length would fail the study after its first
    trial ran; said now, in one line."""
    sweeper = cfg.hydra.get("sweeper") or {}
    direction: Any = sweeper.get("direction") if OmegaConf.is_dict(sweeper) else None
    if not OmegaConf.is_list(direction):
        return
    values = list(cfg.get("values") or [])
    if len(direction) != len(values):
        raise AlignrunError(
            f"hydra.sweeper.direction names {len(direction)} objective(s), but the study's objectives are "
            f"the {len(values)} value scores ({', '.join(map(str, values))}): give one direction per value "
            "(experiment=optuna_beta sets them all to maximize)"
        )


def _check_writable(target: Path) -> None:
    """The run dir can be made and written (its nearest existing folder takes a file)."""
    probe = target.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise AlignrunError(f"cannot write the run dir {target}: {probe}: {exc.strerror}") from None


def user_error(exc: BaseException) -> AlignrunError | None:
    """The AlignrunError behind ``exc`` (Hydra's instantiate wraps what targets raise)."""
    return next((e for e in causes(exc) if isinstance(e, AlignrunError)), None)


class JobFailed(CompactHydraException):
    """A sweep's job failed: Hydra records the job as failed instead of the whole sweep ending there.

    The other jobs still run (the basic sweeper raises this after its batch; Optuna marks the trial
    failed and goes on while ``hydra.sweeper.max_failure_rate`` allows); Hydra prints the message,
    without a traceback, and :func:`main` still writes the sweep summary of the jobs that finished.
    """


def _task(cfg: DictConfig) -> list[float] | None:
    """Hydra's task function: one run; returns its value scores in the run's ``values`` order.

    Hydra ignores the return value of a single run and of a grid sweep's jobs; an optimising
    sweeper (Optuna, docs/sweeps.md) reads it as the trial's objectives, one per value.
    """
    from hydra.errors import InstantiationException

    from alignrun.loop import run_job

    out = Path(HydraConfig.get().runtime.output_dir)
    in_sweep = _job_number() is not None
    try:
        _launcher_threads()
        if in_sweep and os.environ.get("SUBMITIT_EXECUTOR"):
            _resume_requeued(cfg, out)
        with interrupts.handled():  # Ctrl-C and SIGTERM: run_finish hooks run, one line, exit 130
            results = run_job(cfg, out)
        if distributed.rank() == 0:  # say where the results are: a newcomer had to hunt for them
            print(f"alignrun: run dir {out}\nalignrun: report  {out / 'report.md'}", flush=True)
        return objectives(results, strict=in_sweep and _optimising_sweeper())
    except KeyboardInterrupt:
        if in_sweep and os.environ.get("SUBMITIT_EXECUTOR"):  # a launcher's timeout, not the user's Ctrl-C
            _job_failed(_interrupted(out), out)
        _fail(_interrupted(out), 130)  # Ctrl-C ends the whole sweep
    except Exception as exc:
        err = user_error(exc)
        if err is None and (os.environ.get("HYDRA_FULL_ERROR") or os.environ.get("ALIGNRUN_TRACEBACK")):
            raise
        if err is not None:
            message, code = str(err), err.exit_code
        elif _launcher_timeout(exc):
            limit = HydraConfig.get().launcher.get("timeout_min")
            message, code = f"{exc} (hydra.launcher.timeout_min={limit}); {_interrupted(out)}", 1
        elif isinstance(exc, InstantiationException):
            message = (
                f"{str(exc).splitlines()[0]} {exc.__cause__ or ''} (HYDRA_FULL_ERROR=1 shows the traceback)"
            )
            code = 1
        else:
            message, code = _crash_line(exc, cfg, out), 1
        if in_sweep:
            _job_failed(message, out)
        _fail(message, code)


def objectives(results: dict[str, Any], strict: bool = False) -> list[float] | None:
    """The run's value scores in its ``values`` order (an optimising sweeper's objectives).

    A value without a score gives None, or with ``strict`` (a sweeper optimises these) an error
    naming it: a trial is not scored as if that value were 0 or worst.

    Raises:
        AlignrunError: with ``strict``, a value the run has no score for.
    """
    values, scores = list(results.get("values") or []), results.get("scores") or {}
    missing = [v for v in values if v not in scores]
    if missing:
        if strict:
            raise AlignrunError(
                f"no score for {', '.join(missing)}: the sweeper's objectives are one score per value"
            )
        return None
    return [float(scores[v]) for v in values]


def _job_number() -> int | None:
    """This job's number in a multirun, None in a single run."""
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    return int(hydra_cfg.job.num) if hydra_cfg.mode == RunMode.MULTIRUN else None


def _optimising_sweeper() -> bool:
    """The sweep's sweeper reads the jobs' return values (Optuna, Nevergrad, ...; not the grid)."""
    return not str(HydraConfig.get().sweeper.get("_target_", "")).endswith(".BasicSweeper")


def _job_failed(message: str, out: Path) -> NoReturn:
    """End a sweep's job as failed: its line on the job's stderr and in ``error.txt`` (the sweep
    report lists it), then :class:`JobFailed` for Hydra and the sweeper."""
    print(f"alignrun: error: {message}", file=sys.stderr, flush=True)
    with suppress(OSError):  # unwritable: the message still reaches the sweeper
        (out / "error.txt").write_text(message + "\n", encoding="utf-8")
    raise JobFailed(f"alignrun: job {_job_number()} failed: {message}")


def _resume_requeued(cfg: DictConfig, out: Path) -> None:
    """A submitit job that finds its own checkpoints is a requeued attempt (submitit requeues a job
    that times out or is preempted, ``max_num_timeout`` times): it continues from them rather than
    training again from step 0."""
    from omegaconf import open_dict

    if cfg.resume or (out / "results.json").exists() or not any(out.glob("checkpoints/*/step-*")):
        return
    print(f"alignrun: {out} holds this job's checkpoints: a requeued attempt resumes", flush=True)
    with open_dict(cfg):
        cfg.resume = True


def _launcher_timeout(exc: BaseException) -> bool:
    """submitit's signal that a timed-out job will not be requeued again, raised inside the run."""
    return type(exc).__name__ == "UncompletedJobError" and type(exc).__module__.startswith("submitit")


def _launcher_threads() -> None:
    """Torch uses the launcher's ``cpus_per_task`` threads: submitit's local jobs run side by side
    on one machine, and each would otherwise take every core."""
    cpus = HydraConfig.get().launcher.get("cpus_per_task")
    if cpus:
        import torch

        torch.set_num_threads(int(cpus))


def _interrupted(out: Path) -> str:
    """The one line an interrupted run ends with: where it stopped, how to continue."""
    found = sorted(out.glob("checkpoints/*/step-*"), key=lambda p: p.stat().st_mtime)
    where = f"after checkpoint {found[-1].relative_to(out)}" if found else "before any checkpoint"
    command = " ".join(["alignrun", *_user_args(), f"hydra.run.dir={out}", "resume=true"])
    return f"interrupted {where}; resume with: {command}"


def _user_args() -> list[str]:
    """The command line's overrides (a sweep's job: its own), without the run dir and resume (the
    resume line sets both)."""
    args = sys.argv[1:]
    if HydraConfig.initialized() and _job_number() is not None:  # not `-m` and the sweep's lists
        args = [str(o) for o in HydraConfig.get().overrides.task]
    return [a for a in args if not a.startswith(("hydra.run.dir=", "resume="))]


def _crash_line(exc: BaseException, cfg: DictConfig, out: Path) -> str:
    """One line for an error that is not the user's: who failed (a plugin's hook, the method, a
    write), what, and where the full traceback went."""
    import errno
    import traceback

    from alignrun.config import group_choice
    from alignrun.plugins import failing_plugin, raised_at

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        return f"cannot write {exc.filename or 'to the run dir'}: {exc.strerror}"
    saved = out / "traceback.txt"
    try:
        saved.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        kept = f"traceback in {saved}"
    except OSError:
        kept = "ALIGNRUN_TRACEBACK=1 shows the traceback"
    who = failing_plugin(exc)
    where = (
        f"plugin '{who[0]}' failed in {who[1]}" if who else f"method '{group_choice(cfg, 'method')}' failed"
    )
    return f"{where}: {type(exc).__name__}: {exc}{raised_at(exc)} ({kept})"


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
    rank = distributed.rank()
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
        from alignrun.callbacks import summarise_unfinished_sweeps

        summarise_unfinished_sweeps()  # a failed job or Ctrl-C ended the sweep early


if __name__ == "__main__":
    main()
