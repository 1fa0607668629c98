"""The model contract: what a model plugin supplies, and what the host builds on top.

A model implements ``fit`` (or, for gradient-trained models, only ``loss``), ``encode`` and
``decode``; optionally ``likelihood``, ``anomaly_score``, ``sample`` and ``diagnostics``.
Everything shared (the loop, the budget, seeding, device placement, divergence detection,
every metric) belongs to the harness.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from aebench.errors import Diverged

LIKELIHOOD_KINDS = ("none", "exact", "bound", "estimate", "density")


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, so the harness never has to ask it by name.

    :param inputs: data views accepted, in order of preference (see ``aebench.dataset.KINDS``).
    :param likelihood: ``none``; ``exact``; ``bound`` (an upper bound on NLL, e.g. -ELBO);
        ``estimate`` (e.g. AIS, IWAE); ``density`` (a continuous density, not comparable with
        discrete likelihoods).
    :param binary: the model's likelihood is Bernoulli: it trains on dynamically binarised data
        and its likelihood is evaluated on a fixed-seed binarisation of the test set.
    :param stochastic: encode/decode or scores involve sampling.
    :param generative: ``sample`` draws from the model.
    :param supervised: the model trains with labels (``ctx.labels``): a reference row only,
        marked as supervised wherever it is shown.
    :param tasks: the protocol tasks it takes part in; a pure detector (no encode/decode) is
        ``("anomaly",)`` and is "not applicable" to reconstruction protocols.
    """

    inputs: tuple[str, ...] = ("vector",)
    likelihood: str = "none"
    binary: bool = False
    stochastic: bool = False
    generative: bool = False
    supervised: bool = False
    tasks: tuple[str, ...] = ("reconstruction", "anomaly")

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOOD_KINDS:
            raise ValueError(f"likelihood must be one of {LIKELIHOOD_KINDS}")


TOKEN_PAD, TOKEN_OOV = 0, 1


@dataclass(frozen=True)
class DataSpec:
    """What a model is told about the data before it sees any.

    ``kind`` is the view the harness chose from the model's ``inputs``; ``shape`` is one
    example's shape (``(1, 28, 28)`` for MNIST; the flat dimension is ``dim``).
    A ``"tokens"`` view is (L,) int64 ids per example, padded at the end with ``TOKEN_PAD``
    (0); ``TOKEN_OOV`` (1) stands for words outside the vocabulary of ``vocab_size`` ids.
    """

    dim: int
    shape: tuple[int, ...]
    kind: str
    hidden_size: int = 256
    binary: bool = False
    vocab_size: int | None = None


@dataclass
class LikelihoodEstimate:
    """Per-example negative log-likelihood in nats (lower is better), and how it was obtained.

    For ``kind == "bound"`` the value is an upper bound on the NLL (e.g. the negative ELBO).
    ``parts`` holds per-example components (e.g. the ELBO's reconstruction and KL terms);
    ``info`` holds the estimator's settings and diagnostics (k, chains, spread, warnings).
    """

    nll: Tensor
    kind: str
    label: str
    info: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, Tensor] = field(default_factory=dict)


#: torch.optim.Adam's arguments for each of the protocol's ``OPTIMIZER_IMPLS``
_ADAM_IMPLS = {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def _bernoulli(p: Tensor, g: torch.Generator) -> Tensor:
    """``torch.bernoulli(p, generator=g)``, 3x faster on CPU and equal there bit for bit.

    On CPU both draw one uniform per element from ``g``, in order, by the same formula, and
    set 1 where it is below ``p`` (float32 and float64 ``p``); ``rand < p`` only skips the
    per-element distribution object. tests/test_optimizer_impl.py checks the equality.
    """
    return torch.rand(p.shape, generator=g, device=p.device, dtype=p.dtype).lt_(p)


class FitContext:
    """The host's side of training: budget, batches, optimiser defaults, divergence checks.

    ``batches`` yields on-device mini-batches until ``budget_samples`` examples have been seen,
    reshuffling each epoch with the run's generator and dropping a last partial batch (so no
    gradient is biased by it). Binary models get a fresh Bernoulli draw of the pixels each epoch.
    ``log(loss)`` stores the loss on the device without a host sync; finiteness is checked once
    per epoch, and a non-finite loss raises :class:`Diverged` naming the first bad step.

    A model with its own ``fit`` that does not use ``batches`` sets ``samples_seen`` to the
    examples it learnt from (left 0, its training throughput is not measured) and ``step`` /
    ``epoch`` if it iterates; a closed-form fit (one solve, e.g. an eigendecomposition) also
    sets ``closed_form``, so its examples per second of fit time are labelled as such.
    """

    def __init__(
        self,
        *,
        budget_samples: int,
        batch_size: int,
        lr: float,
        optimizer: str,
        device: torch.device,
        generator: torch.Generator,
        binarize: bool,
        progress: Any = None,
        labels: Tensor | None = None,
        precision: str = "fp32",
        optimizer_impl: str = "single",
    ) -> None:
        self.budget_samples = budget_samples
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer_name = optimizer
        self.device = device
        self.generator = generator
        self.binarize = binarize
        self.progress = progress
        #: anomaly labels of the training examples (1 = anomalous), for supervised models only
        self.labels = labels
        #: "bf16": compute losses under :meth:`autocast` (the protocol's ``precision``)
        self.precision = precision
        #: how Adam updates the parameters (the protocol's ``optimizer_impl``)
        self.optimizer_impl = optimizer_impl
        self.step = 0
        self.epoch = 0
        self.samples_seen = 0
        self.closed_form = False
        self.epoch_losses: list[float] = []
        #: (samples seen, perf_counter) at each epoch's end, taken right after a host sync
        self.epoch_marks: list[tuple[int, float]] = []
        self._losses: Tensor | None = None
        self._logged = False
        self._checked = 0

    def autocast(self) -> torch.autocast:
        """The protocol's precision for a forward pass and loss (bf16 autocast, or off)."""
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def plan(self, n: int) -> tuple[int, int]:
        """(batch size, number of steps) for a training set of ``n`` examples."""
        bs = min(self.batch_size, n)
        return bs, max(1, self.budget_samples // bs)

    def batches(self, x: Tensor) -> Iterator[Tensor]:
        n = int(x.shape[0])
        bs, n_steps = self.plan(n)
        per_epoch = n // bs
        self._losses = torch.full((n_steps,), float("nan"), device=x.device)
        while self.step < n_steps:
            perm = torch.randperm(n, device=x.device, generator=self.generator)
            epoch_x = x.index_select(0, perm)  # x[perm]'s rows, ~5x faster on CPU
            if self.binarize:
                epoch_x = _bernoulli(epoch_x, self.generator)
            for i in range(min(per_epoch, n_steps - self.step)):
                yield epoch_x[i * bs : (i + 1) * bs]
                self.step += 1
                self.samples_seen += bs
            self.epoch += 1
            self._check()
            if self.progress is not None:
                self.progress(self.step, n_steps)
        self._check()

    def log(self, loss: Tensor) -> None:
        """Record this step's loss (a 0-d tensor); no host sync."""
        if self._losses is not None and self.step < self._losses.numel():
            self._losses[self.step] = loss.detach()
            self._logged = True

    def _check(self) -> None:
        if self._losses is None or not self._logged or self._checked >= self.step:
            return
        seg = self._losses[self._checked : self.step]
        bad = ~torch.isfinite(seg)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0]) + self._checked
            raise Diverged(step=first, value=float(seg[first - self._checked]))
        self.epoch_losses.append(float(seg.mean()))
        self.epoch_marks.append((self.samples_seen, time.perf_counter()))
        self._checked = self.step

    def fit_kind(self) -> str:
        """How the fit went through its data: "batches" (steps taken or reported), "closed
        form", or "own fit" (the model's own solver, e.g. a library's, not our batches)."""
        if self.step > 0:
            return "batches"
        return "closed form" if self.closed_form else "own fit"

    def steady_throughput(self) -> float | None:
        """Training samples/s after the first epoch (warm-up excluded); None if < 2 epochs."""
        if len(self.epoch_marks) < 2:
            return None
        (s0, t0), (s1, t1) = self.epoch_marks[0], self.epoch_marks[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def make_optimizer(self, params: Iterator[nn.Parameter], lr: float | None = None):
        """The protocol's optimiser over ``params`` (``lr`` overrides the protocol's default).

        The implementation is named explicitly, never left to torch: its default differs by
        device (single-tensor on CPU, foreach on CUDA), and "fused" rounds differently.
        """
        if self.optimizer_name != "adam":
            raise ValueError(f"unknown optimizer {self.optimizer_name!r}")
        if self.optimizer_impl not in _ADAM_IMPLS:
            known = ", ".join(_ADAM_IMPLS)
            raise ValueError(f"unknown optimizer_impl {self.optimizer_impl!r}; known: {known}")
        lr = lr if lr is not None else self.lr
        return torch.optim.Adam(params, lr=lr, **_ADAM_IMPLS[self.optimizer_impl])


class Model(ABC):
    """A model plugin. ``capabilities`` is a class attribute; the config is a dataclass."""

    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, spec: DataSpec, code_size: int, config: Any) -> None:
        self.spec = spec
        self.code_size = code_size
        self.config = config

    @abstractmethod
    def fit(self, train: Tensor, ctx: FitContext) -> None:
        """Train on ``train`` (on the run's device) within ``ctx``'s budget."""

    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """(N, D) -> (N, code) deterministic code (the posterior mean for stochastic encoders)."""

    @abstractmethod
    def decode(self, z: Tensor) -> Tensor:
        """(N, code) -> (N, D) reconstruction in data space (means for probabilistic decoders)."""

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def likelihood(self, x: Tensor, ctx: EvalContext) -> dict[str, LikelihoodEstimate] | None:
        """Named likelihood estimates on ``x``; the first one is the headline column."""
        return None

    def anomaly_score(self, x: Tensor) -> Tensor | None:
        """Per-example anomaly score (higher = more anomalous); None: reconstruction error."""
        return None

    def sample(self, n: int, generator: torch.Generator) -> Tensor | None:
        """``n`` samples in data space from a generative model, else None."""
        return None

    def diagnostics(self, x: Tensor, ctx: EvalContext) -> dict[str, Any]:
        """Method-specific metrics to record, measured on the test inputs ``x`` (plain floats).

        E.g. a sparse AE's achieved mean activation, a denoising AE's denoising error; use
        ``ctx.generator`` for any randomness so the figures are reproducible.
        """
        return {}

    # -- conveniences the host uses; torch models get them from nn.Module ---------------------
    def to(self, device: torch.device) -> Model:
        return self

    def train(self, mode: bool = True) -> Model:
        return self

    def eval(self) -> Model:
        return self.train(False)

    def parameter_count(self) -> int:
        return 0


@dataclass
class EvalContext:
    """What a likelihood estimator may use: its generator, the protocol's estimator settings."""

    generator: torch.Generator
    device: torch.device
    batch_size: int
    iwae_k: int
    iwae_examples: int | None
    ais_chains: int
    ais_betas: int
    ais_runs: int
    #: the training split as the model was fit on it (e.g. for AIS base-rate models)
    train_x: Tensor | None = None


class TorchModel(nn.Module, Model):
    """Base for gradient-trained models: implement ``loss(batch)``; the host runs the loop.

    ``fit`` is the harness's loop: the protocol's optimiser, on-device batches, the budget,
    divergence checks. Models keep Python out of ``loss`` (no ``.item()``, no host syncs).
    """

    def __init__(self, spec: DataSpec, code_size: int, config: Any) -> None:
        nn.Module.__init__(self)
        Model.__init__(self, spec, code_size, config)

    @abstractmethod
    def loss(self, batch: Tensor) -> Tensor:
        """Scalar training loss on one batch."""

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        from aebench.training import gradient_fit

        gradient_fit(self, train, ctx, lr=getattr(self.config, "lr", None))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # nn.Module defines to/train/eval; make sure the Model stubs don't shadow them.
    to = nn.Module.to
    train = nn.Module.train
    eval = nn.Module.eval
