"""The runner's CUDA determinism switches: set for a run, restored after it, and recorded.

No GPU is needed: :func:`aebench.run.determinism.settings` only flips torch's process switches,
which exist in CPU builds too, so the CUDA branch runs here on ``torch.device("cuda")``
without touching a device.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from toy_models import Cfg, LinearAE

from aebench import hookimpl
from aebench.execute import suite
from aebench.registry.loading import load_registry
from aebench.run import determinism, runner
from aebench.testing import ToyPlugin

CUDA = torch.device("cuda")


@pytest.fixture
def switches():
    """Put unusual switches in place and give them back afterwards, whatever the test does."""
    saved = determinism._switches()
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    yield
    determinism._restore(saved)


@pytest.fixture
def cublas_unset(monkeypatch):
    monkeypatch.delenv(determinism.CUBLAS_VAR, raising=False)


def test_cpu_runs_change_nothing(switches):
    with determinism.settings(torch.device("cpu")) as info:
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark
    assert "none" in info["settings"]


def test_cuda_runs_are_deterministic_inside_and_restored_after(switches, cublas_unset):
    with determinism.settings(CUDA) as info:
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.benchmark
    assert info["cublas_workspace_config"] == ":4096:8"
    assert info["bit_reproducible"] and info["nondeterministic_ops"] == []


def test_an_op_without_a_deterministic_kernel_is_named_in_the_record(switches, cublas_unset):
    with determinism.settings(CUDA) as info:
        x = torch.zeros(5)  # put_ without accumulate has no deterministic kernel, on CPU too
        x.put_(torch.tensor([1, 1]), torch.tensor([1.0, 2.0]), accumulate=False)
        x.put_(torch.tensor([2, 2]), torch.tensor([1.0, 2.0]), accumulate=False)
    assert info["nondeterministic_ops"] == ["put_"]
    assert not info["bit_reproducible"]
    assert info["caveats"] == ["put_ has no deterministic CUDA kernel"]


def test_other_warnings_are_shown_once_not_swallowed(switches, cublas_unset):
    with (
        pytest.warns(UserWarning, match="a model's own warning") as seen,
        determinism.settings(CUDA),
    ):
        for _ in range(3):
            warnings.warn("a model's own warning", UserWarning, stacklevel=1)
    assert len(seen) == 1


def test_a_users_cublas_setting_is_kept_and_judged(switches, monkeypatch):
    monkeypatch.setenv(determinism.CUBLAS_VAR, ":0:0")
    with determinism.settings(CUDA) as info:
        pass
    assert info["cublas_workspace_config"] == ":0:0"
    assert not info["bit_reproducible"]
    assert "CUBLAS_WORKSPACE_CONFIG=:0:0 is not deterministic" in info["caveats"]


def test_resolving_a_cpu_device_leaves_cublas_alone(cublas_unset):
    import os

    from aebench.run.provenance import resolve_device

    resolve_device("cpu")
    assert determinism.CUBLAS_VAR not in os.environ


class _Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        register("lin", LinearAE, config=Cfg)


def test_every_record_says_what_was_set(tmp_path):
    registry = load_registry(
        disabled={"pca", "mean", "rbm", "vae", "sparse_ae", "denoising_ae", "conv_ae", "lstm_ae"},
        extra_plugins=[("toy", ToyPlugin), ("lin", _Plugin)],
    )
    reqs = runner.plan(registry, ["lin"], ["toy"], seeds=[0])
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    summary = suite.run_suite(registry, reqs, tmp_path / "rec", torch.device("cpu"), data)
    assert "none" in summary.done[0]["device"]["determinism"]["settings"]
