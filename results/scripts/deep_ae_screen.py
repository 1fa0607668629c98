"""The validation screen behind deep_ae's stack rule and pretraining share and sparse_ae-l1's λ.

Protocol digits-v2 at its own budget (30k samples), seed 0; the data come through aebench's
digits plugin, every candidate trains on the fit slice exactly as a run trains (same seeding,
optimiser, batches) and is scored on the validation slice; the test split is emptied
(``aebench.run.evaluation.without_test``) before any model is built, so no test image is
reachable. One thread, one candidate at a time.

Decision rules, fixed before the screen ran:

- deep_ae: the (stack, pretrain_share) pair with the lowest validation MSE per pixel. Stacks
  (widths between the 64 pixels and the 8-unit code): (2h, h, h/2) of the protocol's hidden
  size h = 128; the paper's widths scaled to the input, round(D · (1000, 500, 250) / 784); the
  paper's widths as they are.
- sparse_ae-l1: the largest λ whose validation MSE is at most 10 % above λ = 0's.

    python results/scripts/deep_ae_screen.py [DATA_DIR]

Writes ``results/screens/deep_ae-digits-v2.json`` (figures only) and prints each row.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

SEED = 0
OUT = Path(__file__).resolve().parents[1] / "screens" / "deep_ae-digits-v2.json"

_SCALED = tuple(round(64 * w / 784) for w in (1000, 500, 250))
CANDIDATES: dict[str, list[dict]] = {
    "deep_ae": [
        {"hidden": list(h), "pretrain_share": s}
        for h in ((256, 128, 64), _SCALED, (1000, 500, 250))
        for s in (0.25, 0.5, 0.75, 0.9)
    ],
    "sparse_ae-l1": [{"l1": lam} for lam in (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)],
}


def _prepared(data_dir: str):
    from aebench.dataset import for_run
    from aebench.run.data import prepare
    from aebench.run.evaluation import without_test
    from aebench_plugins.datasets.digits import DIGITS_V2, Digits

    run_proto = for_run(DIGITS_V2, SEED)
    splits = without_test(Digits().load(run_proto, Path(data_dir), download=False))
    assert splits.test_x.shape[0] == 0  # no test image past this line
    return prepare(splits, run_proto, torch.device("cpu"))


def _one(prepared, name: str, overrides: dict) -> dict:
    from aebench import DataSpec, FitContext
    from aebench.registry.loading import load_registry
    from aebench.run import metrics as M
    from aebench.run.data import choose_view

    proto = prepared.protocol
    entry = load_registry().model(name)
    config = entry.make_config(overrides)
    view_kind = choose_view(entry.capabilities_for(config).inputs, prepared.splits.kinds)
    view = prepared.view(view_kind)
    shape = tuple(prepared.splits.shape)
    spec = DataSpec(
        dim=math.prod(shape), shape=shape, kind=view_kind, hidden_size=proto.hidden_size
    )
    torch.manual_seed(SEED)
    model = entry.factory(spec, proto.code_size, config)
    cpu = torch.device("cpu")
    ctx = FitContext(
        budget_samples=proto.budget_samples,
        batch_size=proto.batch_size,
        lr=getattr(config, "lr", None) or proto.lr,
        optimizer=proto.optimizer,
        device=cpu,
        generator=torch.Generator(device=cpu).manual_seed(SEED),
        binarize=False,
        precision=proto.precision,
        optimizer_impl=proto.optimizer_impl,
    )
    t0 = time.perf_counter()
    model.fit(view.fit, ctx)
    fit_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        errors = M.reconstruction_errors(model, view.val, proto.eval_batch_size)
        out = {"val_recon_mse": float(errors.double().mean())}
        if name == "sparse_ae-l1":
            ectx = type("Ctx", (), {"batch_size": proto.eval_batch_size})()
            diag = model.diagnostics(view.val, ectx)
            out.update(zero_fraction=diag["zero_fraction"], l1_norm=diag["l1_norm"])
    return {"model": name, "overrides": overrides, "fit_s": round(fit_s, 2), **out}


def choose(name: str, rows: list[dict]) -> dict:
    if name == "sparse_ae-l1":
        base = next(r for r in rows if r["overrides"]["l1"] == 0.0)["val_recon_mse"]
        ok = [r for r in rows if r["val_recon_mse"] <= 1.10 * base]
        return max(ok, key=lambda r: r["overrides"]["l1"])
    return min(rows, key=lambda r: r["val_recon_mse"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default="../shared/data")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    prepared = _prepared(args.data_dir)
    result = {}
    for name, cands in CANDIDATES.items():
        rows = []
        for o in cands:
            rows.append(_one(prepared, name, o))
            print(json.dumps(rows[-1]), flush=True)
        result[name] = {
            "protocol": "digits-v2",
            "budget_samples": prepared.protocol.budget_samples,
            "seed": SEED,
            "evaluated_on": "validation carve of the training split (test split emptied)",
            "rule": (
                "largest l1 with validation MSE <= 1.10 x that of l1 = 0"
                if name == "sparse_ae-l1"
                else "lowest validation MSE per pixel"
            ),
            "candidates": rows,
            "chosen": choose(name, rows)["overrides"],
        }
        print(f"{name}: chosen {result[name]['chosen']}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
