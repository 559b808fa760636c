"""Config plumbing between Hydra and pluggy: the search path, compose, the catalogue of options, checks.

The typed nodes are in :mod:`alignrun.schema` and building a node is :mod:`alignrun.instantiate`
(ground floor); this module sits near the top (docs/architecture.md, "Layers"): its checks reach into
every domain's own check, and the catalogue into every plugin's search path. The names re-exported
from the schema and the builder keep plugins written against ``alignrun.config`` working.
Torch-free: the CLI's ``--help`` goes through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin
from omegaconf import DictConfig, OmegaConf

from alignrun.errors import AlignrunError
from alignrun.instantiate import build, build_checked
from alignrun.schema import (
    AlignrunSchema,
    CandidatesConfig,
    DeriveSchema,
    GenerationConfig,
    JudgeSchema,
    ResultsConfig,
)

if TYPE_CHECKING:
    from alignrun.contracts import Value

__all__ = [  # the schema and the builder, for plugins that import them from here
    "AlignrunSchema",
    "CandidatesConfig",
    "DeriveSchema",
    "GenerationConfig",
    "JudgeSchema",
    "ResultsConfig",
    "build",
    "build_checked",
]

CONFIG_MODULE = "alignrun.conf"
PRIMARY_SEARCHPATH = f"pkg://{CONFIG_MODULE}"
CONFIG_NAME = "alignrun"
SCHEMA_NAME = "alignrun_schema"


ConfigStore.instance().store(name=SCHEMA_NAME, node=AlignrunSchema)


def _first_value(values: Any) -> str:
    """``${alignrun.first_value:${values}}``: the name of the run's first value (a steering target's
    default, so ``-m +method=none,dpo,prompt_steering values=[a,b]`` needs no per-method target)."""
    names = list(values or {})
    if not names:
        raise AlignrunError(
            "the run has no values to take a default steering target from; set steering.target"
        )
    return str(names[0])


OmegaConf.register_new_resolver("alignrun.first_value", _first_value, replace=True)


def _maximize_each(values: Any) -> list[str]:
    """``${alignrun.maximize_each:${values}}``: one ``maximize`` per value of the run, the
    directions of a multi-objective study whose objectives are the run's value scores
    (docs/sweeps.md), so ``values=[a,b,c]`` needs no matching ``hydra.sweeper.direction``."""
    return ["maximize"] * len(list(values or {}))


OmegaConf.register_new_resolver("alignrun.maximize_each", _maximize_each, replace=True)


class AlignrunSearchPathPlugin(SearchPathPlugin):
    """Appends every plugin's ``alignrun_config_searchpath`` to Hydra's search path.

    Acts only when the primary config is alignrun's, so other Hydra apps in the same
    environment are untouched.
    """

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if not any(entry.path == PRIMARY_SEARCHPATH for entry in search_path.get_path()):
            return
        from alignrun.plugins import config_searchpaths

        for path in config_searchpaths():
            search_path.append(provider="alignrun-plugin", path=path)


def register_searchpath_plugin() -> None:
    """Register the search-path plugin with Hydra (idempotent).

    Registered explicitly rather than discovered in the ``hydra_plugins`` namespace: in
    editable installs Hydra does not find it there, and ``+method=x`` then silently became
    the plain string ``method: x`` (docs/architecture.md, "Layout").
    """
    plugins = Plugins.instance()
    if AlignrunSearchPathPlugin not in plugins.class_name_to_class.values():
        plugins.register(AlignrunSearchPathPlugin)


def group_choice(cfg: DictConfig, group: str) -> str:
    """The option chosen for config group ``group`` (``method`` -> ``"none"``)."""
    choices: Any = None
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    elif "hydra" in cfg:
        choices = cfg.hydra.runtime.choices
    if choices is not None and choices.get(group):
        return str(choices.get(group))
    node = cfg.get(group)
    target = node.get("_target_") if OmegaConf.is_dict(node) else None
    return str(target).rsplit(".", 1)[-1] if target else str(node)


def check_config(cfg: DictConfig) -> None:
    """Reject a composed config that can't run, with one clear message.

    Raises:
        AlignrunError: no method, a method that did not resolve to a config, missing keys, an
            unknown ``generation.backend``, a ``model.adapter`` that is not an adapter folder.
    """
    method = cfg.get("method")
    if method is None:
        raise AlignrunError(no_method_message())
    if not OmegaConf.is_dict(method) or "_target_" not in method:
        raise AlignrunError(
            f"method resolved to {method!r}, not a method config: use +method=<name> with one of: "
            f"{', '.join(installed_options('method'))}"
        )
    if not cfg.get("values"):
        raise AlignrunError("no values chosen: pass e.g. values=[helpful,harmless]")
    _check_resolves(cfg)
    missing = sorted(  # per top-level node: the hydra node's own ??? keys are Hydra's business
        str(full_key)
        for key in cfg
        if key != "hydra"
        for full_key in (
            OmegaConf.missing_keys(cfg[key])
            if OmegaConf.is_config(cfg[key])
            else ([key] if OmegaConf.is_missing(cfg, str(key)) else [])
        )
    )
    if missing:
        raise AlignrunError(
            f"missing required setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
            f"(set on the command line, e.g. {missing[0]}=...)"
        )
    backend = cfg.get("generation", {}).get("backend")
    if backend:  # a name is checked here, cheaply; a module:function when the run builds its model
        from alignrun.generation import check_backend

        check_backend(str(backend))
    adapter = cfg.get("model", {}).get("adapter")
    if adapter:  # before any model loads or run dir is made
        from alignrun.models.adapter import adapter_folder

        adapter_folder(str(adapter))


def _check_resolves(cfg: DictConfig) -> None:
    """Every interpolation outside ``hydra`` resolves (``${oc.env:NOPE}`` is one line, not a traceback)."""
    from omegaconf.errors import InterpolationResolutionError

    for key in cfg:
        if key == "hydra":
            continue
        try:
            node = cfg[key]  # a top-level scalar resolves when read
            if OmegaConf.is_config(node):
                OmegaConf.to_container(node, resolve=True)
        except InterpolationResolutionError as exc:
            where = getattr(exc, "full_key", None) or str(key)
            raise AlignrunError(f"{where} does not resolve: {str(exc).splitlines()[0]}") from None


def check_settings(cfg: DictConfig) -> None:
    """Every setting the run will read, checked before any work: the ranges and cross-field rules
    of the typed nodes (``generation``, ``derive``, ``judge``: Hydra has checked their types when it
    composed them, from :mod:`alignrun.schema`), and the untyped plugin nodes built — ``data``, the
    method and the steering — their arguments' types checked against the target's signature
    (:func:`alignrun.settings.check_call`) and their constructors checking their own knobs,
    ``method.train`` and ``method.lora`` included.

    Building them is cheap (no model, no data is loaded); the run builds them again.

    Raises:
        AlignrunError: the first setting that is wrong, named by its key.
    """
    from alignrun.derive import DeriveConfig
    from alignrun.judges.roles import JudgeConfig
    from alignrun.settings import build_settings, check_ranges

    check_unread(cfg)
    generation = build_settings(GenerationConfig, _plain(cfg.generation), "generation")
    check_ranges(generation, "generation")
    if generation.min_new_tokens > generation.max_new_tokens:
        raise AlignrunError(
            f"generation.min_new_tokens ({generation.min_new_tokens}) is above "
            f"generation.max_new_tokens ({generation.max_new_tokens})"
        )
    build_settings(CandidatesConfig, _plain(cfg.candidates), "candidates")
    build_settings(DeriveConfig, _plain(cfg.derive), "derive")
    build_settings(JudgeConfig, _plain(cfg.judge), "judge")
    build_settings(ResultsConfig, _plain(cfg.results), "results")
    build_checked(cfg.data, "data", _recursive_=False)
    build_method(cfg)
    build_checked(cfg.steering, "steering", _convert_="all")


def _plain(node: Any) -> dict[str, Any]:
    return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]


def check_unread(cfg: DictConfig) -> None:
    """Every setting given is one something reads: a top-level key of the schema (or a plugin's own
    config group), and in every node that builds a ``_target_`` (values, model, data, loggers, judges,
    scorers, ...) only arguments the target takes, of its types — whether or not the chosen method
    ever builds it (``values.helpful.weight=abc`` under ``method=none`` is refused too). The typed
    nodes' keys are checked by their dataclasses in :func:`check_settings`.

    Raises:
        AlignrunError: the first unread or mistyped setting, with the nearest valid key.
    """
    from dataclasses import fields

    from alignrun.settings import unknown_key

    schema = [f.name for f in fields(AlignrunSchema)]
    repository = _loader().repository
    for key in map(str, cfg):
        if key != "hydra" and key not in schema and not repository.group_exists(key):
            raise AlignrunError(unknown_key(key, schema))
    for key in BUILT:  # profile=none is an empty node: a key added to it would go unread
        node = cfg.get(key)
        if OmegaConf.is_dict(node) and len(node) and "_target_" not in node:
            first, choice = next(iter(node)), group_choice(cfg, key)
            raise AlignrunError(f"{key}.{first} is not a setting of {key}: {key}={choice} takes none")
    for key in map(str, cfg):
        node = cfg[key]
        if key != "hydra" and OmegaConf.is_config(node):
            _check_targets(OmegaConf.to_container(node, resolve=True), key)


BUILT = ("model", "data", "method", "steering", "profile")  # the top-level nodes the core builds
# keys of a target node that the core reads itself and its target never sees
READ_BY_CORE = {"model": ("adapter",)}  # models.adapter.build_lm folds the adapter in after the build


def _check_targets(node: Any, where: str) -> None:
    """:func:`~alignrun.settings.check_call` on every ``_target_`` node at or under ``node``."""
    from hydra.utils import get_object

    from alignrun.settings import check_call

    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_targets(item, f"{where}[{i}]")
        return
    if not isinstance(node, dict):
        return
    if "_target_" in node:
        try:
            target = get_object(str(node["_target_"]))
        except Exception as exc:
            raise AlignrunError(f"{where}._target_ '{node['_target_']}' does not import: {exc}") from None
        core = READ_BY_CORE.get(where, ())
        check_call(target, {str(k): v for k, v in node.items() if k not in core}, where)
    for key, child in node.items():
        if not str(key).startswith("_"):
            _check_targets(child, f"{where}.{key}")


def build_method(cfg: DictConfig) -> Any:
    """The run's method object, its arguments checked against its signature first.

    Raises:
        AlignrunError: a setting of the wrong type, one the method does not take, or a method
            without ``fit(run)``.
    """
    method = build_checked(cfg.method, "method", _convert_="all")
    if not callable(getattr(method, "fit", None)):
        raise AlignrunError(
            f"method '{group_choice(cfg, 'method')}' builds a {type(method).__name__}, "
            "which has no fit(run) method"
        )
    return method


def no_method_message() -> str:
    methods = installed_options("method")
    return (
        f"no method chosen: add +method=<name> (installed: {', '.join(methods) or 'none found'}); "
        "see alignrun --help"
    )


def _loader() -> Any:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    register_searchpath_plugin()
    return ConfigLoaderImpl(config_search_path=create_config_search_path(PRIMARY_SEARCHPATH))


def installed_options(group: str) -> list[str]:
    """Options of config group ``group`` across alignrun's and every plugin's search path."""
    from hydra.core.object_type import ObjectType

    return sorted(_loader().get_group_options(group, results_filter=ObjectType.CONFIG))


def takes_name(node: Any) -> bool:
    """Whether a value node's target takes the value's ``name`` (a value system's loader does not)."""
    import inspect

    from hydra.utils import get_object

    target = node.get("_target_") if OmegaConf.is_dict(node) or isinstance(node, dict) else None
    if target is None:
        return True
    params = inspect.signature(get_object(str(target))).parameters
    return "name" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def value_nodes() -> dict[str, Any]:
    """Every value alignrun knows, name -> its config node: each entry of each ``values/`` option
    (a value system such as ``values/schwartz.yaml`` holds several; the first file naming one wins)."""
    from hydra.core.object_type import ObjectType

    loader = _loader()
    nodes: dict[str, Any] = {}
    for option in sorted(loader.get_group_options("values", results_filter=ObjectType.CONFIG)):
        loaded = loader.repository.load_config(f"values/{option}")
        for name, node in (loaded.config if loaded is not None else {}).items():
            if OmegaConf.is_dict(node) and "_target_" in node and takes_name(node):  # not a system
                nodes.setdefault(str(name), node)
    return nodes


def known_value(name: str, what: str = "value") -> Value:
    """Any value alignrun knows by name: Schwartz's bundled ones, else any ``values/`` config option's.

    ``what`` names the setting the name came from in the error (``steering.target``).

    Raises:
        AlignrunError: no such value (the message lists the known ones).
    """
    from alignrun.profile.schwartz import SCHWARTZ_VALUES, schwartz_value

    if name in SCHWARTZ_VALUES:
        return schwartz_value(name)
    nodes = value_nodes()
    if name not in nodes:
        raise AlignrunError(
            f"{what} '{name}' is not a value alignrun knows; choose one of: {', '.join(sorted(nodes))}"
        )
    value: Value = build(nodes[name], name=name, _convert_="all")
    return value


def compose(overrides: list[str] | None = None) -> DictConfig:
    """Compose alignrun's config as the CLI would, for tests and notebooks.

    The returned config includes the ``hydra`` node (so ``group_choice`` works).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    register_searchpath_plugin()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return hydra_compose(
            config_name=CONFIG_NAME, overrides=list(overrides or []), return_hydra_config=True
        )
