"""Built-in plugin ``sae_steering``: ``alignrun +method=sae_steering steering.target=<value>``.

Trains (or loads) a sparse autoencoder on the model's residual stream, finds the features that
separate value-positive from value-negative material, and steers with the best of them, tested on
held-out roles against random features. Torch-free at import.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_sae_steering.method import SAESteering

__all__ = ["SAESteering"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_sae_steering.conf"
