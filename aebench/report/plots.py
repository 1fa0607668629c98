"""Pictures from stored records and their per-example arrays (matplotlib, no display).

Reconstruction grids, samples of generative models, ROC and precision-recall curves of the
anomaly tasks, a 2-D view of each model's codes and the tuning curves of a tuned board. Nothing
here trains or runs a model. Every figure of the package gets pyplot from :func:`pyplot` (the
headless backend) and most are written by :func:`save`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aebench.records import artifacts, storage
from aebench.records.groups import is_reference
from aebench.stats.expected import expected_best

__all__ = [
    "all_figures",
    "anomaly_curves",
    "latent_views",
    "pyplot",
    "reconstruction_grid",
    "sample_grids",
    "save",
    "tuning_curves",
]


def pyplot():
    """matplotlib.pyplot on the headless Agg backend (matplotlib is imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _image_shape(rec: dict[str, Any]) -> tuple[int, int] | None:
    shape = rec["dataset"].get("shape")
    if shape and len(shape) == 3 and shape[0] == 1:
        return int(shape[1]), int(shape[2])
    return None


def _first_seed(records: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    """model -> (record, arrays) of its lowest-seed ok run that has arrays."""
    out: dict[str, tuple[dict, dict]] = {}
    for rec in sorted(records, key=lambda r: r["seed"]):
        name = rec["model"]["name"]
        if name in out or rec["status"] != "ok":
            continue
        arrays = artifacts.of_record(rec)
        if arrays is not None:
            out[name] = (rec, arrays)
    return out


def reconstruction_grid(records, path: Path, title: str) -> Path | None:
    runs = {k: v for k, v in _first_seed(records).items() if "picture_recons" in v[1]}
    if not runs:
        return None
    rec0 = next(iter(runs.values()))[0]
    hw = _image_shape(rec0)
    if hw is None:
        return None
    plt = pyplot()
    inputs = next(iter(runs.values()))[1]["picture_inputs"]
    n = inputs.shape[0]
    rows = [("original", inputs)] + [(k, v[1]["picture_recons"]) for k, v in sorted(runs.items())]
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.7, len(rows) * 0.8), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(np.clip(imgs[c].reshape(hw), 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return save(fig, path)


def sample_grids(records, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for name, (rec, arrays) in sorted(_first_seed(records).items()):
        hw = _image_shape(rec)
        if "samples" not in arrays or hw is None:
            continue
        plt = pyplot()
        s = arrays["samples"]
        cols = 8
        rows = int(np.ceil(s.shape[0] / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < s.shape[0]:
                ax.imshow(np.clip(s[i].reshape(hw), 0, 1), cmap="gray", vmin=0, vmax=1)
        fig.suptitle(f"{name}: samples (seed {rec['seed']})", fontsize=9)
        # a plugin's model name may hold a path separator or worse
        paths.append(save(fig, out_dir / f"{stem}_samples_{storage.slug(name)}.png"))
    return paths


def anomaly_curves(records, path: Path, title: str) -> Path | None:
    from sklearn.metrics import precision_recall_curve, roc_curve

    runs = {k: v for k, v in _first_seed(records).items() if "test_scores" in v[1]}
    if not runs:
        return None
    plt = pyplot()
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(11, 4.5))
    colours = plt.get_cmap("tab20")  # 20 distinct colours: a board has more than tab10's 10
    for i, (name, (rec, arrays)) in enumerate(sorted(runs.items())):
        y, s = arrays["test_anomalous"].astype(bool), arrays["test_scores"]
        fpr, tpr, _ = roc_curve(y, s)
        prec, recall, _ = precision_recall_curve(y, s)
        m = rec["metrics"]
        style = dict(lw=1, color=colours(i % 20), ls="--" if is_reference(rec) else "-")
        roc.plot(fpr, tpr, label=f"{name} ({m['anomaly.auroc']:.3f})", **style)
        pr.plot(recall, prec, label=f"{name} ({m['anomaly.auprc']:.3f})", **style)
    roc.plot([0, 1], [0, 1], "k:", lw=0.8)
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (AUROC)")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall (AUPRC)")
    for ax in (roc, pr):
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save(fig, path)


def latent_views(records, path: Path, title: str) -> Path | None:
    from sklearn.decomposition import PCA

    runs = {k: v for k, v in _first_seed(records).items() if {"codes", "code_view"} & set(v[1])}
    if not runs:
        return None
    plt = pyplot()
    n = len(runs)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 3.2, rows * 3.0), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, (rec, arrays)) in zip(axes.flat, sorted(runs.items())):
        if "code_view" in arrays:  # stored as drawn (aebench.records.artifacts.code_view)
            z = arrays["code_view"].astype(np.float64)
            size = (rec.get("training") or {}).get("code_size") or rec["protocol"]["code_size"]
            how = "PCA of code" if size > 2 else "code"
        else:  # records stored before: every code
            z = arrays["codes"].astype(np.float64)
            how = "code"
            if z.shape[1] > 2:
                z = PCA(n_components=2, random_state=0).fit_transform(z)
                how = "PCA of code"
        labels = arrays.get("code_labels")
        ax.axis("on")
        ax.scatter(z[:, 0], z[:, 1], c=labels, s=2, cmap="tab10", alpha=0.7)
        ax.set_title(f"{name} ({how})", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title + " — test codes coloured by label", fontsize=9)
    return save(fig, path)


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically (the same figure, the same bytes: no software
    stamp) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".aebench-tmp-" + path.name)
    fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png", metadata={"Software": None})
    pyplot().close(fig)
    tmp.replace(path)
    return path


def all_figures(records: list[dict[str, Any]], out_dir: Path, stem: str, title: str) -> list[Path]:
    """Every picture that the records of one board support."""
    made = [
        reconstruction_grid(records, out_dir / f"{stem}_reconstructions.png", title),
        anomaly_curves(records, out_dir / f"{stem}_roc_pr.png", title),
        latent_views(records, out_dir / f"{stem}_latent.png", title),
    ]
    made += sample_grids(records, out_dir, stem)
    made.append(tuning_curves(records, out_dir / f"{stem}_tuning.png", title))
    return [p for p in made if p is not None]


def _tuned_runs(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """model -> its tuning information (from any one of its tuned records)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in sorted(records, key=lambda r: r["seed"]):
        info = rec.get("tuning")
        values = info and (info.get("values") or info.get("top_values"))
        if values and rec["model"]["name"] not in out:
            out[rec["model"]["name"]] = info
    return out


def tuning_curves(records: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """One line per tuned model: the expected best validation figure (Dodge et al. 2019,
    :func:`aebench.stats.expected.expected_best`) against what was spent. Successive halving:
    over the full-budget figures of the configurations that reached the top rung, against the
    study's training samples, shared out evenly among them; the earlier method: after n of its
    N trials (TPE's trials treated as exchangeable)."""
    runs = _tuned_runs(records)
    if not runs:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("tab20")
    info = next(iter(runs.values()))
    halving = info.get("method") == "successive-halving"
    figures = []
    for i, (name, tuning) in enumerate(sorted(runs.items())):
        values = [v[1] for v in tuning["top_values"]] if halving else tuning["values"]
        finished = [v for v in values if v is not None]
        if not finished:
            continue
        figures += finished
        ns = np.arange(1, len(values) + 1)
        curve = [expected_best(finished, int(n), tuning["direction"]) for n in ns]
        failed = len(values) - len(finished)
        label = name + (f" ({failed} failed)" if failed else "")
        xs = ns * tuning["spent"] / len(values) if halving else ns
        ax.plot(xs, curve, marker=".", lw=1.2, color=colours(i % 20), label=label)
    from matplotlib.ticker import MaxNLocator

    if not halving:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training samples spent" if halving else "trials n")
    what = "of n full-budget configurations" if halving else "after n trials"
    ax.set_ylabel(f"expected best {info['criterion']} {what}")
    if info["direction"] == "minimize" and figures and min(figures) > 0:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    sampler = info["sampler"]
    if sampler != "random" and not halving:
        sampler += " (trials treated as exchangeable)"
    if halving:
        sub = (
            f"successive halving, {info['total']:,} samples per model: expected best of n of the "
            "N configurations\nat the top rung (Dodge et al. 2019), at n/N of the samples spent"
        )
    else:
        sub = (
            "expected best validation figure (Dodge et al. 2019) over the finished trials; "
            f"sampler {sampler}"
        )
    ax.set_title(f"{title}\n{sub}", fontsize=8)
    return save(fig, path)
