"""Weight vectors over values that methods evaluate candidates at (soups, decoding-time mixtures)."""

from __future__ import annotations

import itertools

from alignrun.errors import AlignrunError


def simplex_grid(n: int, step: float, what: str = "method.soup_step") -> list[tuple[float, ...]]:
    """Every weight vector of length ``n`` on the simplex with coordinates in multiples of ``step``.

    ``what`` names the setting ``step`` came from in the error.
    """
    k = round(1 / step) if step > 0 else 0
    if k < 1 or abs(k * step - 1) > 1e-9:
        raise AlignrunError(f"{what} must divide 1 (0.5, 0.25, 0.1...), got {step}")
    return [
        tuple(c / k for c in combo) for combo in itertools.product(range(k + 1), repeat=n) if sum(combo) == k
    ]
