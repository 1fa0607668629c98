"""Latent interpolations (lecture 003): decoded straight lines between the codes of test pairs.

A run of image data keeps, for its first seed, the decoded paths between the codes of the test
pairs (0, 1), (2, 3), … (``interpolations`` in its arrays, computed at evaluation time by
:func:`aebench.records.artifacts.interpolations`, since models are not kept). Every model that
has a decoder has them; nothing here names a model or runs one. Each model's figure has one row
per pair: the original first image, the decoded path from its code to the other's, the
original second image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aebench.records import artifacts, storage
from aebench.report.plots import pyplot, save

__all__ = ["figure_for", "grids", "path_name"]


def path_name(stem: str, model: str) -> str:
    """The file name of ``model``'s interpolation figure on the board ``stem``."""
    return f"{stem}_interpolation_{storage.slug(model)}.png"


def _first_runs(records: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    """model -> (record, arrays) of its lowest-seed ok run whose arrays hold interpolations."""
    out: dict[str, tuple[dict, dict]] = {}
    for rec in sorted(records, key=lambda r: r["seed"]):
        name = rec["model"]["name"]
        if name in out or rec["status"] != "ok":
            continue
        arrays = artifacts.of_record(rec)
        if arrays is not None and "interpolations" in arrays:
            out[name] = (rec, arrays)
    return out


def grids(records: list[dict[str, Any]], out_dir: Path, stem: str) -> list[Path]:
    """One PNG per model of a board with interpolations (image data, first seed)."""
    paths = []
    for name, (rec, arrays) in sorted(_first_runs(records).items()):
        shape = rec["dataset"].get("shape")
        if not artifacts.is_image(shape):
            continue
        hw = (int(shape[1]), int(shape[2]))
        paths.append(_grid(name, rec, arrays, hw, out_dir / path_name(stem, name)))
    return paths


def _grid(name: str, rec: dict, arrays: dict, hw: tuple[int, int], path: Path) -> Path:
    paths = arrays["interpolations"].astype(np.float64) / 255.0  # (pairs, steps, D)
    inputs = arrays.get("picture_inputs")
    pairs, steps = paths.shape[:2]
    ends = inputs is not None and inputs.shape[0] >= 2 * pairs
    cols = steps + (2 if ends else 0)
    plt = pyplot()
    fig, axes = plt.subplots(pairs, cols, figsize=(cols * 0.7, pairs * 0.75), squeeze=False)
    for r in range(pairs):
        row = list(paths[r])
        if ends:
            row = [inputs[2 * r], *row, inputs[2 * r + 1]]
        for c, img in enumerate(row):
            ax = axes[r][c]
            ax.imshow(np.clip(np.asarray(img).reshape(hw), 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if ends and c in (0, cols - 1):
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:blue")
    how = "test image, decoded path between their codes, test image" if ends else "decoded path"
    fig.suptitle(f"{name}: interpolations (seed {rec['seed']}): {how}", fontsize=8)
    return save(fig, path)


def figure_for(figures: list[dict[str, str]], stem: str, model: str) -> dict[str, str] | None:
    """The entry of ``figures`` (the site's ``href``/``label`` dicts of a board) that is
    ``model``'s interpolation figure, or None."""
    name = path_name(stem, model)
    return next((f for f in figures if f["href"].rsplit("/", 1)[-1] == name), None)
