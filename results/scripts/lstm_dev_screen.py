"""The development-split screen behind lstm_ae's token score (plugins/models/lstm_ae.py).

Loads sms-spam-v3 through aebench's own plugin with ``holdout="dev"`` (the test split is
dropped before any vectorizer sees the data; evaluation is on a stratified carve of the
training split), trains lstm_ae for each seed as the runner does (the same seeding, ham of
the fit slice, the protocol's budget and optimiser, the model's learning rate), and scores
the development messages with each candidate score. The training loss does not depend on
the score, so one model per seed serves both candidates. The threshold is the protocol's:
the 95% quantile of the scores of the validation slice's ham. Prints AUROC / AUPRC / F1 per
seed and their mean, and the Spearman correlation of the score with the token count.

    python results/scripts/lstm_dev_screen.py [DATA_DIR] [SEEDS]     # SEEDS e.g. 0,1,2
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from aebench import DataSpec, FitContext
from aebench.errors import AebenchError
from aebench.run import metrics as M
from aebench.run.data import prepare
from aebench_plugins.datasets.sms_spam import SMS_V3, SMSSpam
from aebench_plugins.models.lstm_ae import LSTMAE, SCORES, LSTMAEConfig

DEV = SMS_V3.with_overrides(params={**SMS_V3.params, "holdout": "dev"})


def _fit(view, normal, seed: int) -> LSTMAE:
    """lstm_ae trained on the fit slice's ham, seeded as aebench.run.runner seeds a run."""
    p, cpu = DEV, torch.device("cpu")
    spec = DataSpec(
        dim=view.fit.shape[1],
        shape=tuple(view.fit.shape[1:]),
        kind="tokens",
        hidden_size=p.hidden_size,
        vocab_size=normal["vocab_size"],
    )
    torch.manual_seed(seed)
    config = LSTMAEConfig()
    model = LSTMAE(spec, p.code_size, config)
    ctx = FitContext(
        budget_samples=p.budget_samples,
        batch_size=p.batch_size,
        lr=config.lr or p.lr,
        optimizer=p.optimizer,
        device=cpu,
        generator=torch.Generator(device=cpu).manual_seed(seed),
        binarize=False,
        precision=p.precision,
    )
    model.fit(view.fit[normal["fit"]], ctx)
    return model


def screen(data_dir: Path, seeds: list[int]) -> None:
    prepared = prepare(SMSSpam().load(DEV, data_dir, download=False), DEV, torch.device("cpu"))
    view = prepared.view("tokens")
    fit_normal, val_normal, test_anomalous = prepared.mask("normal")
    normal = {"fit": fit_normal, "vocab_size": prepared.splits.extras["vocab_size"]}
    tokens = (view.test != 0).sum(1).numpy()
    rows: dict[str, list] = {s: [] for s in SCORES}
    for seed in seeds:
        model = _fit(view, normal, seed)
        for score in SCORES:
            model.config = dataclasses.replace(model.config, score=score)
            with torch.no_grad():
                cal = M.anomaly_scores(model, view.val[val_normal], DEV.eval_batch_size, False)
                test = M.anomaly_scores(model, view.test, DEV.eval_batch_size, False).numpy()
            threshold = M.label_free_threshold(cal.numpy(), DEV.threshold_quantile)
            m = M.anomaly_metrics(threshold, test, test_anomalous.numpy())
            rho = spearmanr(test, tokens).statistic
            rows[score].append([m["anomaly.auroc"], m["anomaly.auprc"], m["anomaly.f1"], rho])
            print(f"{score:4s} seed {seed}  " + _figures(rows[score][-1]), flush=True)
    for score in SCORES:
        print(f"{score:4s} mean    " + _figures(np.mean(rows[score], 0)))


def _figures(row) -> str:
    auroc, auprc, f1, rho = row
    return f"AUROC {auroc:.3f}  AUPRC {auprc:.3f}  F1 {f1:.3f}  Spearman(score, tokens) {rho:.3f}"


if __name__ == "__main__":
    try:
        torch.set_num_threads(1)
        data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
        seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
        screen(data_dir, seeds)
    except AebenchError as exc:  # e.g. no SMSSpamCollection under DATA_DIR: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
