"""A test plugin: ``steering=polite`` rewrites every user prompt, through alignrun's public API only.

Written as a third-party package would be (docs/writing_plugins.md, "A steering intervention"):
its config on the search path, its intervention built on ``rewritten_user_prompt``.
"""

from __future__ import annotations

from alignrun import hookimpl


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_polite.conf"
