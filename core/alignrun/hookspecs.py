"""Every hook alignrun calls, in one module (documented in docs/plugin_hooks.md).

Hooks are called with keyword arguments only. A plugin implements any subset with
``@alignrun.hookimpl``; the core's own defaults (``alignrun.defaults``) are ``trylast``
implementations, so a plugin's implementation runs first and, for ``firstresult`` hooks,
replaces the default. Each run gets a fresh plugin manager (``alignrun.plugins``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from omegaconf import DictConfig

    from alignrun.contracts import Method, MethodResult
    from alignrun.evaluation import Generations, Measured
    from alignrun.lm import LM
    from alignrun.run import Run

hookspec = pluggy.HookspecMarker("alignrun")
hookimpl = pluggy.HookimplMarker("alignrun")


# -------------------------------------------------------------------------
# Plugin registration and configuration
# -------------------------------------------------------------------------


@hookspec(historic=True)
def alignrun_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hookspecs of your own, for plugins of your plugin.

    Called once per plugin at registration (historic: plugins registered later still get it).

    Args:
        pluginmanager: the run's plugin manager; call ``pluginmanager.add_hookspecs(module)``.
    """


@hookspec
def alignrun_config_searchpath() -> str | None:
    """Return a Hydra search path, e.g. ``"pkg://my_plugin.conf"``, so its YAML files become choosable.

    Called while Hydra builds its search path (also for ``--help``), only for alignrun's own
    app. Make every config folder under it a regular package (an ``__init__.py``), so that
    setuptools ships it and it never merges with a same-named folder elsewhere on ``sys.path``.
    Must be cheap and must not import torch.
    """


@hookspec
def alignrun_configure(config: DictConfig) -> None:
    """Check or adjust the composed config before anything is built.

    Raise :class:`alignrun.AlignrunError` to reject it with a one-line message. The
    ``loggers=`` objects are registered after this hook, so they do not receive it.

    Args:
        config: the job's composed config (mutable; struct mode is on).
    """


# -------------------------------------------------------------------------
# Run lifecycle
# -------------------------------------------------------------------------


@hookspec
def alignrun_run_start(run: Run) -> None:
    """Called once model, values, data, method and steering are built, before the method runs.

    Args:
        run: the run; ``run.output_dir`` exists.
    """


@hookspec(firstresult=True)
def alignrun_run_method(run: Run, method: Method) -> MethodResult | None:
    """Run the method and return its :class:`alignrun.MethodResult` (first non-None wins).

    The core default calls ``method.fit(run)``. Implement it to wrap or replace how methods
    run (e.g. a launcher that farms ``fit`` out).

    Args:
        run: the run.
        method: ``run.method``, the instantiated ``method=`` config.
    """


@hookspec
def alignrun_log(run: Run, metrics: dict[str, float], step: int | None) -> None:
    """Receive metrics (training losses, per-value rewards, eval scores). Loggers implement this.

    Called on the main process only.

    Args:
        run: the run.
        metrics: name -> value; names use ``/`` to group (``train/loss``).
        step: the optimizer step, or None for run-level metrics.
    """


@hookspec
def alignrun_checkpoint_saved(run: Run, path: Path, step: int) -> None:
    """Called after a checkpoint was written completely (atomically) to ``path``.

    Fired by methods that checkpoint (``run.hook.alignrun_checkpoint_saved(...)``), on the
    main process only.

    Args:
        run: the run.
        path: the checkpoint folder.
        step: the optimizer step it holds.
    """


@hookspec(firstresult=True)
def alignrun_generate(run: Run, lm: LM, prompts: list[str]) -> list[str] | None:
    """Generate one response per prompt with ``lm`` (first non-None wins).

    Any steering is already applied to ``lm`` when this is called. The core default runs
    batched generation with the ``generation`` config and the tokenizer's chat template.

    Args:
        run: the run.
        lm: the model to generate with (base, trained or steered).
        prompts: user prompts, without chat formatting.

    Returns:
        Responses in prompt order, special tokens stripped.
    """


@hookspec
def alignrun_evaluate(
    run: Run, lm: LM, generations: dict[str, Generations], profile: bool
) -> dict[str, Measured] | None:
    """Return metrics for ``lm``; every implementation's dict is merged (a duplicate key is an error).

    Keys ``score/<value>`` become ``results.json`` ``scores`` (higher = more aligned),
    ``profile/<value>`` its ``value_profile`` (questionnaire scores in [-1, 1]); other keys
    land in ``metrics``. A value is a float, a list of per-item scores (one per prompt, in the
    order of ``generations``: their mean is the metric and a bootstrap over items its interval)
    or an ``alignrun.uncertainty.Interval``. The core default returns each value's per-prompt
    scorer scores and the value profile with its interval.
    Steering is applied to ``lm`` while this is called.

    Args:
        run: the run.
        lm: the model being evaluated.
        generations: value name -> its eval prompts and ``lm``'s responses.
        profile: whether this evaluation wants the value profile (false for the base model and for
            candidates, which need only scores); an implementation may leave the argument out.
    """


@hookspec
def alignrun_run_finish(run: Run | None, results: dict[str, Any] | None, error: BaseException | None) -> None:
    """Always called once ``alignrun_configure`` was: after success, failure or interrupt.

    Args:
        run: the run, or None when building it failed.
        results: the ``results.json`` content once written, else None.
        error: the exception that ended the run, or None.

    An implementation that raises replaces the run's own error and stops the remaining
    implementations: clean up without raising.
    """
