"""The development-split screen behind sms-spam-v3's features (results/README.md).

Loads the SMS Spam Collection through aebench's own plugin with ``holdout="dev"`` (the test
split is dropped before any vectorizer sees the data; evaluation is on a stratified carve of
the training split), fits two label-free scorers on the normal part of the harness's fit
slice, calibrates the 95% threshold on the normal part of its validation slice, and prints
AUROC / AUPRC / F1 on the development messages for each candidate feature set:

- ``mean``: the mean of the training features, scored like every reconstruction model, by
  squared error weighted with 1 / (training variance + 1/n) (aebench.run.metrics);
- ``pca``: scikit-learn's PCA with 32 components, the same weighted error.

    python results/scripts/sms_dev_screen.py [DATA_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from aebench.dataset import carve_validation
from aebench.errors import AebenchError
from aebench.run.metrics import inverse_variance_weights
from aebench_plugins.datasets.sms_spam import SMS_V2, SMSSpam

CANDIDATES = {
    "v2 (words)": {},
    "words + character 1-grams": {"char_ngrams": 1},
    "words + character 1-2-grams (v3)": {"char_ngrams": 2},
    "words + character 1-3-grams": {"char_ngrams": 3},
}


def screen(data_dir: Path) -> None:
    for name, params in CANDIDATES.items():
        proto = SMS_V2.with_overrides(params={**SMS_V2.params, "holdout": "dev", **params})
        s = SMSSpam().load(proto, data_dir, download=False)
        fit, val = carve_validation(len(s.train_y), proto.val_fraction, proto.split_seed)
        normal = s.train_y == 0
        f = s.train_x[fit][normal[fit]].double()
        cal = s.train_x[val][normal[val]].double()
        test, y = s.test_x.double(), s.test_y.numpy()
        w = inverse_variance_weights(f)
        pca = PCA(32, svd_solver="full").fit(f.numpy())
        recon = {
            "mean": [f.mean(0).expand_as(x) for x in (cal, test)],
            "pca": [
                torch.from_numpy(pca.inverse_transform(pca.transform(x.numpy())))
                for x in (cal, test)
            ],
        }
        for which, (r_cal, r_test) in recon.items():
            c = (((cal - r_cal) ** 2) * w).mean(1).numpy()
            t = (((test - r_test) ** 2) * w).mean(1).numpy()
            pred = t > np.quantile(c, proto.threshold_quantile)
            print(
                f"{name:34s} {which:4s} D={f.shape[1]:5d}  AUROC {roc_auc_score(y, t):.3f}  "
                f"AUPRC {average_precision_score(y, t):.3f}  F1 {f1_score(y, pred):.3f}"
            )


if __name__ == "__main__":
    try:
        screen(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
    except AebenchError as exc:  # e.g. no SMSSpamCollection under DATA_DIR: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
