"""The protocol's training precision: bf16 autocast as an opt-in variant, fp32 by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from toy_models import Cfg, LinearAE

from aebench import FitContext, hookimpl
from aebench.errors import AebenchError
from aebench.execute import suite
from aebench.registry.loading import load_registry
from aebench.run import runner
from aebench.testing import ToyPlugin

RECORDS = Path(__file__).resolve().parents[1] / "results" / "records"


class DtypeSpy(LinearAE):
    """A linear AE that remembers the dtype its training loss saw its code in."""

    seen: set[torch.dtype] = set()

    def loss(self, batch):
        z = self.encode(batch)
        DtypeSpy.seen.add(z.dtype)
        return ((self.decode(z).float() - batch) ** 2).mean()


class Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        register("spy", DtypeSpy, config=Cfg)


@pytest.fixture
def registry():
    return load_registry(
        disabled={"pca", "mean", "rbm", "vae", "sparse_ae", "denoising_ae", "conv_ae", "lstm_ae"},
        extra_plugins=[("toy", ToyPlugin), ("spy", Plugin)],
    )


def _run(registry, tmp_path, **overrides):
    DtypeSpy.seen = set()
    reqs = runner.plan(registry, ["spy"], ["toy"], seeds=[0], protocol_overrides=overrides)
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    summary = suite.run_suite(registry, reqs, tmp_path / "rec", torch.device("cpu"), data)
    return summary.done[0], reqs[0]


def test_fp32_is_the_default_and_autocasts_nothing(registry, tmp_path):
    record, req = _run(registry, tmp_path)
    assert "~" not in req.group
    assert record["status"] == "ok"
    assert record["training"]["precision"] == "fp32"
    assert DtypeSpy.seen == {torch.float32}


def test_bf16_trains_under_autocast_as_a_recorded_variant(registry, tmp_path):
    record, req = _run(registry, tmp_path, precision="bf16")
    assert record["status"] == "ok", record.get("error")
    assert record["training"]["precision"] == "bf16"
    assert DtypeSpy.seen == {torch.bfloat16}
    assert "~" in req.group  # stored apart from the fp32 runs, never mixed with them
    base = registry.dataset("toy").protocol(None)
    variant = base.with_overrides(precision="bf16")
    assert variant.fingerprint() != base.fingerprint()
    assert variant.to_dict()["precision"] == "bf16"


def test_unknown_precision_is_refused_by_name(registry):
    # when the protocol is made (here: the variant a plan makes), before any run
    with pytest.raises(AebenchError, match="precision 'fp8'"):
        runner.plan(registry, ["spy"], ["toy"], seeds=[0], protocol_overrides={"precision": "fp8"})


def test_autocast_context_follows_the_precision():
    def ctx(precision):
        return FitContext(
            budget_samples=8,
            batch_size=4,
            lr=1e-3,
            optimizer="adam",
            device=torch.device("cpu"),
            generator=torch.Generator(),
            binarize=False,
            precision=precision,
        )

    layer, x = nn.Linear(3, 2), torch.randn(4, 3)
    with ctx("bf16").autocast():
        assert layer(x).dtype == torch.bfloat16
    with ctx("fp32").autocast():
        assert layer(x).dtype == torch.float32


def test_published_fingerprints_survive_the_precision_field():
    """A field added later must not orphan records stored before it existed."""
    stored = sorted(RECORDS.glob("digits-v1/digits/pca/seed-0.json"))
    if not stored:
        pytest.skip("no published digits-v1 record in this checkout")
    record = json.loads(stored[0].read_text())
    registry = load_registry()
    protocol = registry.dataset("digits").protocol("digits-v1")
    assert protocol.fingerprint() == record["protocol"]["fingerprint"]
    assert "precision" not in protocol.to_dict()
