"""The RBM's mathematics against independent computations on RBMs small enough to enumerate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aebench import DataSpec, FitContext
from aebench.model import EvalContext
from aebench_plugins.models.rbm import RBM, RBMConfig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors: extra threads only add synchronisation, which on a shared CPU costs seconds.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _params(m: RBM):
    return m.weight.double(), m.vbias.double(), m.hbias.double()


def _neg_energy(m: RBM, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """-E(v, h) for every pair: (len(v), len(h))."""
    w, a, b = _params(m)
    return (v @ a)[:, None] + (h @ b)[None, :] + v @ w @ h.T


def _exact_log_z(m: RBM) -> float:
    # Enumerate the 2^H hidden states and sum the visibles out analytically.
    w, a, b = _params(m)
    h = _states(w.shape[1])
    return float(torch.logsumexp(h @ b + F.softplus(h @ w.T + a).sum(1), 0))


def _random_rbm(d: int, h: int, seed: int = 0, scale: float = 1.0, **cfg) -> RBM:
    torch.manual_seed(seed)
    spec = DataSpec(dim=d, shape=(d,), kind="vector", binary=True)
    m = RBM(spec, 0, RBMConfig(n_hidden=h, **cfg))
    m.weight.normal_(0.0, scale)
    m.vbias.normal_(0.0, scale)
    m.hbias.normal_(0.0, scale)
    return m


def _fit(
    x: torch.Tensor,
    seed: int = 0,
    epochs: int = 20,
    global_draws: int = 0,
    fit_seed: int | None = None,
    **cfg,
) -> tuple[RBM, FitContext]:
    torch.manual_seed(seed)
    spec = DataSpec(dim=x.shape[1], shape=(x.shape[1],), kind="vector", binary=True)
    m = RBM(spec, 0, RBMConfig(**{"n_hidden": 12, "lr": 0.1, **cfg}))
    torch.rand(global_draws)  # fit must draw from ctx.generator only, never the global one
    ctx = FitContext(
        budget_samples=epochs * x.shape[0],
        batch_size=32,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(seed if fit_seed is None else fit_seed),
        binarize=False,
    )
    m.fit(x, ctx)
    return m, ctx


def _ectx(train_x, betas: int = 1000, chains: int = 100, runs: int = 3) -> EvalContext:
    return EvalContext(
        generator=torch.Generator().manual_seed(7),
        device=torch.device("cpu"),
        batch_size=256,
        iwae_k=1,
        iwae_examples=None,
        ais_chains=chains,
        ais_betas=betas,
        ais_runs=runs,
        train_x=train_x,
    )


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().data[:1000] / 16.0 > 0.5, dtype=torch.float32)


@pytest.fixture(scope="module", params=[False, True], ids=["cd1", "pcd1"])
def trained(request, digits) -> RBM:
    return _fit(digits, persistent=request.param)[0]


def test_free_energy_and_conditionals_match_enumeration():
    m = _random_rbm(6, 5)
    v, h = _states(6), _states(5)
    neg_e = _neg_energy(m, v, h)
    brute_fe = -torch.logsumexp(neg_e, 1)
    torch.testing.assert_close(m.free_energy(v.float()).double(), brute_fe, atol=1e-4, rtol=0)
    # p(h_j = 1 | v) and p(v_i = 1 | h) from the joint, against encode and decode.
    p_h = torch.softmax(neg_e, 1) @ h
    torch.testing.assert_close(m.encode(v.float()).double(), p_h, atol=1e-5, rtol=0)
    p_v = torch.softmax(neg_e, 0).T @ v
    torch.testing.assert_close(m.decode(h.float()).double(), p_v, atol=1e-5, rtol=0)


def test_pseudo_likelihood_matches_the_joint():
    m = _random_rbm(8, 5, seed=1)
    v = _states(8)
    log_p = torch.logsumexp(_neg_energy(m, v, _states(5)), 1)  # unnormalised log p(v)
    index = {tuple(s.int().tolist()): i for i, s in enumerate(v)}
    expected = torch.zeros(len(v), dtype=torch.float64)
    for n, s in enumerate(v):
        for i in range(8):
            flipped = s.clone()
            flipped[i] = 1 - flipped[i]
            other = log_p[index[tuple(flipped.int().tolist())]]
            expected[n] -= log_p[n] - torch.logaddexp(log_p[n], other)  # -log p(v_i | v_-i)
    torch.testing.assert_close(
        m.pseudo_likelihood_nll(v.float()).double(), expected, atol=1e-3, rtol=1e-5
    )
    # Chunking over examples must not change anything.
    torch.testing.assert_close(
        m.pseudo_likelihood_nll(v.float(), max_elems=40), m.pseudo_likelihood_nll(v.float())
    )


def test_ais_matches_exact_log_z(trained, digits):
    log_z = _exact_log_z(trained)
    w, a, b = _params(trained)
    p = digits.double().mean(0).clamp(1e-3, 1 - 1e-3)
    base_log_z = float(F.softplus(torch.log(p / (1 - p))).sum()) + w.shape[1] * np.log(2)
    assert log_z - base_log_z > 3.0, "the RBM learned too little for this test to mean anything"
    x = digits[:200]
    est = trained.likelihood(x, _ectx(digits))
    assert list(est)[0] == "ais"
    info = est["ais"].info
    assert abs(info["log_z"] - log_z) < 0.1
    assert abs(info["log_z_base_rate"] - log_z) < 0.1
    assert abs(info["log_z_uniform"] - log_z) < 0.1
    assert "warning" not in info
    assert (info["chains"], info["betas"], info["runs"]) == (100, 1000, 3)
    exact_nll = trained.free_energy(x).double() + log_z
    assert (est["ais"].nll.double() - exact_nll).abs().max() < 0.1
    torch.testing.assert_close(est["pseudo_likelihood"].nll, trained.pseudo_likelihood_nll(x))
    assert est["pseudo_likelihood"].label == "pseudo-likelihood (not a likelihood)"


def test_disagreeing_ais_starts_are_flagged_and_the_larger_is_reported(trained, digits):
    # Two temperatures only: plain importance sampling from each start, far off from uniform.
    info = trained.likelihood(digits[:50], _ectx(digits, betas=2, chains=10))["ais"].info
    assert abs(info["log_z_base_rate"] - info["log_z_uniform"]) > 1.0
    assert info["log_z"] == max(info["log_z_base_rate"], info["log_z_uniform"])
    assert "disagree" in info["warning"]
    only_uniform = trained.likelihood(digits[:50], _ectx(None, betas=50, chains=10))["ais"].info
    assert "log_z_base_rate" not in only_uniform
    assert only_uniform["log_z"] == only_uniform["log_z_uniform"]


@pytest.mark.parametrize(
    "cfg",
    [{}, {"persistent": True}, {"k": 3}, {"sample_visible": True}],
    ids=["cd1", "pcd1", "cd3", "cd1-sampled"],
)
def test_training_raises_the_exact_likelihood(digits, cfg):
    def nll(m):
        return float((m.free_energy(digits).double() + _exact_log_z(m)).mean())

    start, _ = _fit(digits, epochs=1, lr=0.0)  # the initial model: learning rate 0
    trained, _ = _fit(digits, **cfg)
    assert nll(trained) < nll(start) - 2.0


@pytest.mark.parametrize("persistent", [False, True], ids=["cd1", "pcd1"])
def test_fit_is_deterministic_for_a_seed(digits, persistent):
    a, _ = _fit(digits[:256], seed=3, epochs=3, persistent=persistent)
    b, _ = _fit(digits[:256], seed=3, epochs=3, global_draws=5, persistent=persistent)
    c, _ = _fit(digits[:256], seed=3, epochs=3, fit_seed=4, persistent=persistent)
    for name, t in a.state_dict().items():
        assert torch.equal(t, b.state_dict()[name]), name
    assert not torch.equal(a.weight, c.weight)


def test_visible_biases_start_at_the_data_log_odds(digits):
    x = digits.clone()
    x[:, 0], x[:, 1] = 0.0, 1.0  # a never-on and an always-on pixel: clipped, still finite
    m, ctx = _fit(x, epochs=1, lr=0.0)
    p = x.mean(0).clamp(1e-3, 1 - 1e-3)
    torch.testing.assert_close(m.vbias, torch.log(p / (1 - p)))
    assert torch.isfinite(m.vbias).all() and (m.hbias == 0).all()
    assert len(ctx.epoch_losses) == 1  # losses were logged, so divergence can be detected


def test_samples_follow_the_model_marginals():
    m = _random_rbm(6, 4, seed=2, sample_steps=50)
    v = _states(6)
    p_v = torch.softmax(torch.logsumexp(_neg_energy(m, v, _states(4)), 1), 0)
    marginals = p_v @ v  # exact p(v_i = 1)
    s = m.sample(20000, torch.Generator().manual_seed(0))
    assert s.shape == (20000, 6)
    torch.testing.assert_close(s.double().mean(0), marginals, atol=0.02, rtol=0)


def test_rbm_codes_at_the_protocols_size_and_rbm_256_is_a_labelled_variant(tmp_path):
    """Like with like: ``rbm``'s code is the protocol's code size; the 256-unit form is a
    named model whose row says its code differs."""
    from importlib.metadata import entry_points

    from aebench.execute import suite
    from aebench.registry.loading import load_registry
    from aebench.report.build import build_boards
    from aebench.run import runner
    from aebench.testing import TOY, ToyPlugin

    others = {ep.name for ep in entry_points(group="aebench")} - {"rbm"}
    registry = load_registry(disabled=others, extra_plugins=[("toy", ToyPlugin)])
    reqs = runner.plan(registry, ["rbm", "rbm-256"], ["toy"], seeds=[0])
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    done = suite.run_suite(registry, reqs, tmp_path / "rec", torch.device("cpu"), data).done
    code = {r["model"]["name"]: r["training"]["code_size"] for r in done}
    assert code == {"rbm": TOY.code_size, "rbm-256": 256}
    (board,) = build_boards(done)
    # a toy-sized fit may be marked by the learning gate: the name is what is checked here
    names = {row.model: row.display.removesuffix(f" [{row.verdict}]") for row in board.rows}
    assert names == {"rbm": "rbm", "rbm-256": f"rbm-256 (code 256, not {TOY.code_size})"}
