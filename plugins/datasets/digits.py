"""The offline default: scikit-learn's bundled 8×8 handwritten digits (real data, no download).

1,797 images of 8×8 pixels with 17 grey levels (the UCI "Optical Recognition of Handwritten
Digits" test set, as shipped inside scikit-learn). Pixels are scaled to [0, 1]. There is no
official split, so the protocol defines one: stratified 70/30 with the protocol's split seed.
From digits-v2 on, each run seed draws its own split (``split_per_seed``), as the repeated
random splits of PyOD's and ADBench's benchmarks: the spread over seeds then includes the
split's, which one fixed split of 1,797 images hides.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch

from aebench import AnomalyTask, Dataset, Protocol, Splits, hookimpl

DIGITS_V1 = Protocol(
    name="digits",
    version=1,
    dataset="digits",
    code_size=8,
    hidden_size=128,
    budget_samples=30_000,
    batch_size=64,
    lr=1e-3,
    seeds=(0, 1, 2),
    iwae_k=1000,
    ais_chains=100,
    ais_betas=3000,
    ais_runs=3,
    eval_batch_size=512,
    params={"test_fraction": 0.3, "novelty_digit": 0},
    description="sklearn 8x8 digits, stratified 70/30 split, pixels/16, code 8, 30k samples",
)


#: Novelty detection on the offline data: digit 0 is the anomaly; train on the other digits.
DIGITS_NOVELTY_V1 = dataclasses.replace(
    DIGITS_V1,
    name="digits-novelty",
    task="anomaly",
    anomaly_train="normal",
    threshold_quantile=0.95,
    description="sklearn 8x8 digits novelty: train on digits 1-9, digit 0 is the anomaly",
)


#: digits-v1 and digits-novelty-v1 with a split drawn per run seed (the split seed derived from
#: the run seed and recorded in every record), and fused Adam (``optimizer_impl``: the same
#: update, another rounding, 1.1-1.3x faster steps); every other setting as v1.
DIGITS_V2 = dataclasses.replace(
    DIGITS_V1,
    version=2,
    split_per_seed=True,
    optimizer_impl="fused",
    description="sklearn 8x8 digits, stratified 70/30 split drawn per seed, pixels/16, code 8, "
    "30k samples",
)
DIGITS_NOVELTY_V2 = dataclasses.replace(
    DIGITS_NOVELTY_V1,
    version=2,
    split_per_seed=True,
    optimizer_impl="fused",
    description="sklearn 8x8 digits novelty: train on digits 1-9, digit 0 is the anomaly; "
    "stratified 70/30 split drawn per seed",
)


class Digits(Dataset):
    """scikit-learn's 8×8 digits (offline, real data)."""

    def load(self, protocol: Protocol, data_dir: Path, download: bool = True) -> Splits:
        import sklearn
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        x = (bunch.data / 16.0).astype(np.float32)
        y = bunch.target.astype(np.int64)
        tr, te = train_test_split(
            np.arange(len(y)),
            test_size=protocol.params["test_fraction"],
            stratify=y,
            random_state=protocol.split_seed,
        )
        x_tr, x_te, y_tr, y_te = x[tr], x[te], y[tr], y[te]
        source = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
        sha = hashlib.sha256(source.read_bytes()).hexdigest() if source.exists() else None
        provenance = {
            "source": "scikit-learn bundled digits.csv.gz (UCI optdigits)",
            "files": {"digits.csv.gz": {"sha256": sha, "sklearn": sklearn.__version__}},
            "n_train": len(x_tr),
            "n_test": len(x_te),
            "canonical": True,
            "split": f"stratified {1 - protocol.params['test_fraction']:.0%}/"
            f"{protocol.params['test_fraction']:.0%}, seed {protocol.split_seed}",
        }
        novelty = protocol.params["novelty_digit"]
        train_y, test_y = torch.from_numpy(y_tr), torch.from_numpy(y_te)
        anomaly = AnomalyTask(
            description=f"digit {novelty} is the anomaly; train on the other digits",
            train_normal=train_y != novelty,
            test_anomalous=test_y == novelty,
        )
        return Splits(
            train_x=torch.from_numpy(x_tr),
            test_x=torch.from_numpy(x_te),
            shape=(1, 8, 8),
            kinds=frozenset({"vector", "image", "sequence"}),
            provenance=provenance,
            train_y=train_y,
            test_y=test_y,
            anomaly=anomaly,
            # each example's row in scikit-learn's digits, to trace it across splits
            extras={"train_index": torch.from_numpy(tr), "test_index": torch.from_numpy(te)},
        )


@hookimpl
def aebench_register_datasets(register):
    # newest first: `-d digits` and `-p digits` (a name without a version) mean v2
    register(
        "digits",
        Digits,
        protocols=[DIGITS_V2, DIGITS_NOVELTY_V2, DIGITS_V1, DIGITS_NOVELTY_V1],
        default=True,
    )
