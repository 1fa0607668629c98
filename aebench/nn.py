"""Small building blocks that several model plugins use (no model is named here)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(
    sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU, final: nn.Module | None = None
):
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)
