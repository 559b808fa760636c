"""Who owns a run dir: one run at a time, a finished run kept, a resume that continues its own run.

- **Lock.** A run holds an advisory ``flock`` on ``<run dir>/.alignrun.lock`` for its whole life;
  the kernel drops it when the process ends, however it ends (SIGKILL included), so a killed run
  never leaves the dir stuck. A second run into the same dir gets one line naming the first's pid.
- **Finished runs.** A dir holding ``results.json`` is not run into again unless ``resume=true``.
- **Resume.** ``resume=true`` needs a dir a run was started in, and refuses settings that differ
  from that run's in anything but progress bars, loggers and the results summary.

Torch-free: the CLI checks all of this before Hydra writes into the dir.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from alignrun.errors import AlignrunError

LOCK_FILE = ".alignrun.lock"
# top-level keys and leaf names a resumed run may change: they do not touch what is trained
_FREE_KEYS = ("resume", "loggers", "results", "hydra")
_FREE_LEAVES = ("progress", "checkpoint_every")

_held: dict[Path, int] = {}  # run dir -> the open, locked file descriptor of this process


def claim(out: Path) -> None:
    """Lock ``out`` for this process (again for a dir it already holds: nothing to do).

    Raises:
        AlignrunError: another live process holds the dir.
    """
    out = out.resolve()
    if out in _held:
        return
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise AlignrunError(
            f"run dir {out} is in use by another alignrun run (pid {holder}); "
            "wait for it to end or choose another hydra.run.dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[out] = fd


def release(out: Path) -> None:
    """Drop this process's lock on ``out`` (a no-op for a dir it does not hold)."""
    fd = _held.pop(out.resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def check_reuse(out: Path, resume: bool) -> None:
    """A finished run is not overwritten; a resume has a run to continue.

    Raises:
        AlignrunError: ``results.json`` in ``out`` without ``resume=true``; ``resume=true`` on a
            dir no run was started in.
    """
    if (out / "results.json").exists() and not resume:
        raise AlignrunError(
            f"run dir {out} holds a finished run (results.json); choose another hydra.run.dir, "
            "delete the dir, or pass resume=true to continue it"
        )
    if resume and not (out / ".hydra" / "config.yaml").exists() and not (out / "checkpoints").is_dir():
        raise AlignrunError(
            f"resume=true, but there is nothing to resume in {out}: no run was started there "
            "(set hydra.run.dir to the dir of the run to continue)"
        )


def training_settings(cfg: Any) -> dict[str, str]:
    """Every setting of ``cfg`` that shapes what a run trains, flattened to ``key -> JSON``
    (unresolved: ``${seed}`` compares as written)."""
    tree: Any = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and node:
            for key, child in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), child)
        elif prefix.rsplit(".", 1)[-1] not in _FREE_LEAVES:
            flat[prefix] = json.dumps(node, sort_keys=True, default=str)

    for key, node in (tree or {}).items():
        if key not in _FREE_KEYS:
            walk(str(key), node)
    return flat


def changed_settings(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """The keys whose value differs between two :func:`training_settings` (added or dropped too)."""
    return sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))


def refuse_changes(before: dict[str, str], now: dict[str, str], where: str) -> None:
    """Raises:
    AlignrunError: the resumed run's settings differ from those of the run in ``where``."""
    changed = changed_settings(before, now)
    if changed:
        shown = ", ".join(f"{k} ({before.get(k, 'unset')} -> {now.get(k, 'unset')})" for k in changed[:6])
        more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        raise AlignrunError(
            f"resume=true with settings that differ from the run in {where}: {shown}{more}; "
            "resume with the run's own settings, or start a new run dir"
        )


def check_resume(out: Path, cfg: Any) -> None:
    """``resume=true`` into ``out`` continues the run started there, with its settings.

    Raises:
        AlignrunError: no run to resume, or a setting that changes what trains.
    """
    check_reuse(out, resume=True)
    saved = out / ".hydra" / "config.yaml"
    if saved.exists():
        refuse_changes(training_settings(OmegaConf.load(saved)), training_settings(cfg), str(out))
