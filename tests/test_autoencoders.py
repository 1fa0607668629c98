"""Math and behaviour of the sparse, denoising, convolutional and LSTM autoencoders."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aebench import DataSpec, FitContext
from aebench.model import EvalContext
from aebench_plugins.models.conv_ae import ConvAE, ConvAEConfig
from aebench_plugins.models.denoising_ae import DenoisingAE, DenoisingAEConfig, corrupt
from aebench_plugins.models.lstm_ae import LSTMAE, LSTMAEConfig
from aebench_plugins.models.sparse_ae import SparseAE, SparseAEConfig, sparsity_penalty

DIGITS = DataSpec(dim=64, shape=(1, 8, 8), kind="image", hidden_size=32)
MNIST = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=32)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors gain nothing from intra-op threads, and on a busy machine their spinning
    # makes these tests several times slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(
    n: int = 32, spec: DataSpec = DIGITS, seed: int = 0, noise: float = 0.2
) -> torch.Tensor:
    """Structured images in [0, 1]: a few random binary prototypes, jittered by ``noise``."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, spec.dim, generator=g) > 0.6).float()
    pick = torch.randint(0, 4, (n,), generator=g)
    return (1 - noise) * protos[pick] + noise * torch.rand(n, spec.dim, generator=g)


def _eval_ctx(seed: int = 0, batch_size: int = 16) -> EvalContext:
    return EvalContext(
        torch.Generator().manual_seed(seed), torch.device("cpu"), batch_size, 1, None, 1, 1, 1
    )


def _fit_ctx(budget: int, seed: int = 0) -> FitContext:
    return FitContext(
        budget_samples=budget, batch_size=16, lr=1e-3, optimizer="adam",
        device=torch.device("cpu"), generator=torch.Generator().manual_seed(seed), binarize=False,
    )  # fmt: skip


def _train_steps(model, x: torch.Tensor, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = last = None
    for _ in range(steps):
        loss = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = float(loss.detach())
        first = last if first is None else first
    return first, last


# -- sparse AE -----------------------------------------------------------------------------------
def test_sparsity_penalty_by_hand():
    # ρ = 0.1, ρ̂ = (0.2, 0.05):
    #   KL(0.1‖0.2)  = 0.1 ln(0.1/0.2)  + 0.9 ln(0.9/0.8)  = -0.0693147 + 0.1060047 = 0.0366900
    #   KL(0.1‖0.05) = 0.1 ln(0.1/0.05) + 0.9 ln(0.9/0.95) =  0.0693147 - 0.0486605 = 0.0206542
    got = sparsity_penalty(0.1, torch.tensor([0.2, 0.05]))
    assert float(got) == pytest.approx(0.0366900 + 0.0206542, abs=1e-6)


def test_sparsity_penalty_zero_only_at_target():
    assert float(sparsity_penalty(0.05, torch.full((7,), 0.05))) == pytest.approx(0.0, abs=1e-7)
    assert float(sparsity_penalty(0.05, torch.tensor([0.05, 0.06]))) > 0
    # A dead or saturated unit gets a large, finite penalty rather than inf/nan.
    edge = sparsity_penalty(0.05, torch.tensor([0.0, 1.0]))
    assert torch.isfinite(edge) and float(edge) > 10


@torch.no_grad()
def test_sparse_loss_is_bce_plus_beta_kl():
    model = SparseAE(DIGITS, 5, SparseAEConfig(rho=0.1, beta=2.5))
    x = _images()
    h = model.encode(x)
    assert h.min() >= 0 and h.max() <= 1  # sigmoid code
    bce = F.binary_cross_entropy(model.decode(h), x, reduction="none").sum(1).mean()
    rho_hat = h.mean(0)
    kl = (0.1 * torch.log(0.1 / rho_hat) + 0.9 * torch.log(0.9 / (1 - rho_hat))).sum()
    assert float(model.loss(x)) == pytest.approx(float(bce + 2.5 * kl), rel=1e-4)


def test_sparse_penalty_drives_activation_to_rho():
    x = _images(64)
    achieved = {}
    for beta in (0.0, 10.0):
        torch.manual_seed(0)
        model = SparseAE(DIGITS, 8, SparseAEConfig(rho=0.05, beta=beta))
        _train_steps(model, x, 150, lr=2e-2)
        with torch.no_grad():
            achieved[beta] = model.diagnostics(x, _eval_ctx())["mean_activation"]
    assert achieved[10.0] == pytest.approx(0.05, abs=0.02)
    assert achieved[0.0] > 0.1  # without the penalty nothing holds the code near ρ


def test_sparse_shallow_form_is_one_sigmoid_layer():
    model = SparseAE(DIGITS, 6, SparseAEConfig(deep=False))
    linears = [m for m in model.encoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 6)]


# -- denoising AE --------------------------------------------------------------------------------
def test_masking_zeroes_about_level():
    x = torch.full((200, 500), 0.7)
    y = corrupt(x, "masking", 0.3, torch.Generator().manual_seed(1))
    assert float((y == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert bool(((y == 0) | (y == 0.7)).all())
    assert bool((x == 0.7).all())  # the input is not modified in place


def test_salt_and_pepper_sets_about_level_to_zero_or_one():
    x = torch.full((200, 500), 0.5)
    y = corrupt(x, "salt_pepper", 0.2, torch.Generator().manual_seed(2))
    assert float((y != 0.5).float().mean()) == pytest.approx(0.2, abs=0.01)
    assert float((y == 0).float().mean()) == pytest.approx(0.1, abs=0.01)
    assert float((y == 1).float().mean()) == pytest.approx(0.1, abs=0.01)


def test_gaussian_noise_has_level_as_std():
    x = torch.rand(200, 500)
    noise = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(3)) - x
    assert float(noise.std()) == pytest.approx(0.3, rel=0.02)
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.01)


def test_corruption_is_reproducible_from_its_generator():
    x = torch.rand(10, 20)
    a = corrupt(x, "masking", 0.5, torch.Generator().manual_seed(4))
    b = corrupt(x, "masking", 0.5, torch.Generator().manual_seed(4))
    c = corrupt(x, "masking", 0.5, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)


@torch.no_grad()
def test_denoising_target_is_the_clean_input():
    model = DenoisingAE(DIGITS, 4, DenoisingAEConfig("salt_pepper", 0.3))
    x = _images()
    model._noise = torch.Generator().manual_seed(6)
    got = model.loss(x)
    noisy = corrupt(x, "salt_pepper", 0.3, torch.Generator().manual_seed(6))
    out = model.reconstruct(noisy)
    clean_target = F.binary_cross_entropy(out, x, reduction="sum") / len(x)
    noisy_target = F.binary_cross_entropy(out, noisy, reduction="sum") / len(x)
    # An untrained decoder outputs about 1/2 everywhere, so the two targets differ little;
    # the match with the clean one must be much closer than with the noisy one.
    assert abs(float(got - clean_target)) < 0.01 * abs(float(got - noisy_target))


def test_reconstruct_does_not_corrupt():
    model = DenoisingAE(DIGITS, 4, DenoisingAEConfig("masking", 0.9)).train()
    x = _images()
    a, b = model.reconstruct(x), model.reconstruct(x)
    assert torch.equal(a, b)
    assert torch.equal(a, torch.sigmoid(model.decoder(model.encoder(x))))


def test_denoising_fit_is_deterministic_per_seed():
    x = _images(64)
    params = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)
        model = DenoisingAE(DIGITS, 4, DenoisingAEConfig("gaussian", 0.2))
        model.fit(x, _fit_ctx(budget=160, seed=seed))
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(params[0], params[1])
    assert not torch.equal(params[0], params[2])


def test_denoising_diagnostics():
    model = DenoisingAE(DIGITS, 4, DenoisingAEConfig("masking", 0.4)).eval()
    x = torch.rand(400, 64)
    with torch.no_grad():
        d = model.diagnostics(x, _eval_ctx(batch_size=100))
    # Masking a fraction p of entries costs p · E[x²] per pixel, E[x²] = 1/3 for U(0, 1).
    assert d["corrupted_mse"] == pytest.approx(0.4 / 3, rel=0.03)
    assert d["denoise_mse"] > 0
    with torch.no_grad():
        again = model.diagnostics(x, _eval_ctx(batch_size=100))
        other = model.diagnostics(x, _eval_ctx(seed=1, batch_size=100))
    assert again == d and other != d  # drawn from ctx.generator


# -- conv AE -------------------------------------------------------------------------------------
@pytest.mark.parametrize("downsample", ["pool", "stride"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (1, 7, 9), (3, 10, 6)])
def test_conv_shapes(shape, downsample):
    c, h, w = shape
    spec = DataSpec(dim=c * h * w, shape=shape, kind="image", hidden_size=32)
    model = ConvAE(spec, 5, ConvAEConfig(channels=(4, 8), downsample=downsample))
    x = torch.rand(3, spec.dim)
    z = model.encode(x)
    assert z.shape == (3, 5)
    assert model.to_code.out_features == 5  # the dense bottleneck is the only path to the decoder
    y = model.decode(z)
    assert y.shape == (3, spec.dim) and y.min() >= 0 and y.max() <= 1
    assert model.loss(x).shape == ()


def test_conv_feature_volume_matches_rounded_up_halving():
    model = ConvAE(MNIST, 32, ConvAEConfig(channels=(16, 32)))
    assert model._volume == (32, 7, 7)
    for downsample in ("pool", "stride"):
        cfg = ConvAEConfig(channels=(4, 8, 6), downsample=downsample)
        model = ConvAE(DataSpec(dim=63, shape=(1, 7, 9), kind="image"), 8, cfg)
        assert model._volume == (6, 1, 2)  # 7 → 4 → 2 → 1 and 9 → 5 → 3 → 2
        assert model.features(torch.rand(2, 1, 7, 9)).shape == (2, 6 * 1 * 2)


# -- LSTM AE -------------------------------------------------------------------------------------
def test_lstm_shapes_on_images():
    model = LSTMAE(MNIST, 6, LSTMAEConfig.tiny())
    x = torch.rand(3, 784)
    assert model._steps(x).shape == (3, 28, 28)  # 28 steps of one 28-pixel row
    z = model.encode(x)
    assert z.shape == (3, 6)
    y = model.decode(z)
    assert y.shape == (3, 784) and y.min() >= 0 and y.max() <= 1


def test_lstm_rows_round_trip_for_colour_images():
    spec = DataSpec(dim=60, shape=(3, 4, 5), kind="image")
    model = LSTMAE(spec, 2, LSTMAEConfig.tiny())
    x = torch.rand(2, 60)
    steps = model._steps(x)
    assert steps.shape == (2, 4, 15)
    # step t holds row t of every channel
    assert torch.equal(steps[:, 1, 5:10], x.view(2, 3, 4, 5)[:, 1, 1])
    assert torch.equal(model._unstep(steps), x)
    assert model.decode(model.encode(x)).shape == (2, 60)


def test_lstm_sequence_and_token_views():
    seq = LSTMAE(DataSpec(dim=15, shape=(5, 3), kind="sequence"), 2, LSTMAEConfig.tiny())
    assert seq.decode(seq.encode(torch.rand(4, 15))).shape == (4, 15)
    spec = DataSpec(dim=7, shape=(7,), kind="tokens", vocab_size=11)
    tok = LSTMAE(spec, 3, LSTMAEConfig.tiny())
    ids = torch.randint(0, 11, (4, 7)).float()
    assert tok.encode(ids).shape == (4, 3)
    out = tok.decode(tok.encode(ids))
    assert out.shape == (4, 7) and bool(((out >= 0) & (out < 11) & (out == out.round())).all())


def test_lstm_declares_its_learning_rate():
    assert LSTMAEConfig().lr == 5e-3


@pytest.mark.parametrize(
    "name, config",
    [
        ("lstm_ae", LSTMAEConfig),
        ("conv_ae", ConvAEConfig),
        ("sparse_ae", SparseAEConfig),
        ("denoising_ae", DenoisingAEConfig),
    ],
)
def test_defaults_once_chosen_on_test_error_are_the_validation_screens_choice(name, config):
    """results/scripts/default_screen.py re-derived them on MNIST's validation carve; a default
    changed without a new screen fails here."""
    import json
    from pathlib import Path

    screens = Path(__file__).resolve().parents[1] / "results" / "screens"
    screen = json.loads((screens / "defaults-mnist-v2.json").read_text())[name]
    assert "test split emptied" in screen["evaluated_on"]
    defaults = config()
    for field, value in screen["chosen"].items():
        got = getattr(defaults, field)
        assert (list(got) if isinstance(got, tuple) else got) == value, field
    best = min(screen["candidates"], key=lambda r: r["val_recon_mse"])
    if name != "sparse_ae":  # β is chosen by the code's sparsity, not by error alone
        assert best["overrides"] == screen["chosen"]


# -- every model learns --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: SparseAE(DIGITS, 4, SparseAEConfig.tiny()),
        lambda: DenoisingAE(DIGITS, 4, DenoisingAEConfig.tiny()),
        lambda: ConvAE(DIGITS, 4, ConvAEConfig(channels=(4, 8), downsample="pool")),
        lambda: ConvAE(DIGITS, 4, ConvAEConfig(channels=(4, 8), downsample="stride")),
        lambda: LSTMAE(DIGITS, 4, LSTMAEConfig.tiny()),
        lambda: LSTMAE(
            DataSpec(dim=6, shape=(6,), kind="tokens", vocab_size=5), 3, LSTMAEConfig.tiny()
        ),
    ],
    ids=["sparse", "denoising", "conv-pool", "conv-stride", "lstm", "lstm-tokens"],
)
def test_loss_decreases_on_a_fixed_batch(make):
    torch.manual_seed(0)
    model = make()
    if model.spec.kind == "tokens":
        x = torch.randint(0, 5, (16, 6), generator=torch.Generator().manual_seed(0)).float()
    else:
        x = _images(16, noise=0.0)  # binary, so the cross-entropy can approach 0
    first, last = _train_steps(model, x, 40, lr=3e-2)
    assert last < 0.7 * first


def _messages(vocab: int = 12, width: int = 9, seed: int = 0) -> torch.Tensor:
    """Token messages of lengths 0 to ``width`` (ids 1..vocab-1), padded at the end."""
    g = torch.Generator().manual_seed(seed)
    lengths = [3, width, 1, 0, 5, 2, width - 1]
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(1, vocab, (n,), generator=g)
    return ids


def _token_model(width: int, vocab: int = 12, seed: int = 0) -> LSTMAE:
    torch.manual_seed(seed)
    spec = DataSpec(dim=width, shape=(width,), kind="tokens", hidden_size=16, vocab_size=vocab)
    return LSTMAE(spec, 4, LSTMAEConfig.tiny())


def test_lstm_token_code_is_what_the_encoder_gives_the_message_alone():
    model = _token_model(9)
    ids = _messages()
    with torch.no_grad():
        h, c = model._state(ids)
        code = model.encode(ids)
        for i, n in enumerate((ids != 0).sum(1).tolist()):
            if n:  # the same encoder on the message alone: no pads, no batch companions
                _, (h1, c1) = model.encoder(model.embedding(ids[i, :n]).unsqueeze(0))
                h1, c1 = h1[-1, 0], c1[-1, 0]
            else:  # no step read: the LSTM's initial state
                h1 = c1 = torch.zeros(16)
            torch.testing.assert_close(h[i], h1, rtol=0, atol=1e-6)
            torch.testing.assert_close(c[i], c1, rtol=0, atol=1e-6)
            torch.testing.assert_close(
                code[i], model.to_code(torch.cat([h1, c1])), rtol=0, atol=1e-6
            )


@pytest.mark.parametrize("score", ["mean", "sum"])
def test_lstm_token_code_and_score_do_not_change_with_the_pad_count(score):
    short, long = _token_model(9), _token_model(40)  # max_len 9 and 40, the same weights
    long.load_state_dict(short.state_dict())
    short.config = long.config = LSTMAEConfig(hidden=16, embed=8, score=score)
    ids = _messages()
    padded = torch.cat([ids, torch.zeros(ids.shape[0], 31, dtype=ids.dtype)], 1)
    with torch.no_grad():
        torch.testing.assert_close(long.encode(padded), short.encode(ids), rtol=0, atol=1e-6)
        a, b = short.anomaly_score(ids), long.anomaly_score(padded)
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
        # alone, each message scores as it does in the batch
        for i in range(ids.shape[0]):
            torch.testing.assert_close(
                long.anomaly_score(padded[i : i + 1])[0], a[i], rtol=1e-6, atol=1e-6
            )


def test_lstm_tokens_score_is_cross_entropy_of_the_message_without_padding():
    model = _token_model(9)
    ids = _messages()
    n = (ids != 0).sum(1)
    with torch.no_grad():
        logits = model._logits(model.encode(ids))  # the decoder over every step, pads too
        by_hand = torch.tensor(
            [
                sum(float(-torch.log_softmax(logits[i, t], -1)[ids[i, t]]) for t in range(n[i]))
                for i in range(ids.shape[0])
            ]
        )
        mean = model.anomaly_score(ids)
        model.config = LSTMAEConfig(hidden=16, embed=8, score="sum")
        total = model.anomaly_score(ids)
    assert mean.shape == total.shape == (ids.shape[0],)
    torch.testing.assert_close(total, by_hand, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mean, by_hand / n.clamp(min=1), rtol=1e-5, atol=1e-5)
    assert float(total[n == 0]) == 0.0  # a message of no tokens has nothing to spell back
    assert float(model.loss(ids).detach()) == pytest.approx(float(total.mean()), rel=1e-5)
    image_model = LSTMAE(DIGITS, 4, LSTMAEConfig.tiny())
    assert image_model.anomaly_score(_images(2)) is None  # pixels: the harness's recon error


def test_lstm_rejects_an_unknown_score():
    with pytest.raises(ValueError, match="score must be one of"):
        LSTMAEConfig(score="max")
