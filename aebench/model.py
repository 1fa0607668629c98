"""The model contract: what a model plugin supplies, and what the host builds on top.

A model implements ``fit`` (or, for gradient-trained models, only ``loss``), ``encode`` and
``decode``; optionally ``likelihood``, ``anomaly_score``, ``sample`` and ``diagnostics``.
Everything shared (the loop, the budget, seeding, device placement, divergence detection,
every metric) belongs to the harness.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from aebench.training import FitContext, gradient_fit

LIKELIHOOD_KINDS = ("none", "exact", "bound", "estimate", "density")


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, so the harness never has to ask it by name.

    :param inputs: data views accepted, in order of preference (see ``aebench.dataset.KINDS``).
    :param likelihood: ``none``; ``exact``; ``bound`` (an upper bound on NLL, e.g. -ELBO);
        ``estimate`` (e.g. AIS, IWAE); ``density`` (a continuous density, not comparable with
        discrete likelihoods).
    :param binary: the model's likelihood is Bernoulli: it trains on dynamically binarised data
        and is evaluated on a fixed-seed binarisation of the test set, or on the pixels
        where the protocol says so (``Protocol.eval_inputs``).
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
    ``nll`` has one value per example given, in order; an estimator that evaluates fewer (IWAE
    under ``EvalContext.iwae_examples``) evaluates the first ones, so each value's example is
    known (``aebench.run.nll_examples``).
    """

    nll: Tensor
    kind: str
    label: str
    info: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, Tensor] = field(default_factory=dict)


class Model(ABC):
    """A model plugin: ``encode``, ``decode`` and ``fit`` (or ``loss``, see :class:`TorchModel`).

    What the harness reads from the class, before any instance exists:

    - ``capabilities``: what the model can do (:class:`Capabilities`), or, where a config
      changes that (a VAE's Gaussian decoder is a density), :meth:`capabilities_for`;
    - ``lr_field``: the config field that holds the model's own learning rate;
    - the config, a dataclass registered with ``register(..., config=Config)``: every field has
      a default, and a ``tiny()`` classmethod returns the small instance the contract suite
      (:mod:`aebench.testing`) trains with.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()
    #: the config field holding the model's own learning rate: a positive float, or None for
    #: the protocol's ``lr``; a config without that field always uses the protocol's. The
    #: harness hands the result to ``fit`` as ``ctx.lr`` and records it.
    lr_field: ClassVar[str | None] = "lr"

    @classmethod
    def capabilities_for(cls, config: Any) -> Capabilities:
        """The flags that hold for ``config``: ``capabilities`` unless a subclass says otherwise."""
        return cls.capabilities

    @classmethod
    def learning_rate(cls, config: Any) -> float | None:
        """The learning rate ``config`` sets in ``lr_field``; None: the protocol's."""
        if cls.lr_field is None or config is None:
            return None
        return getattr(config, cls.lr_field, None)

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

    # -- saved models (``aebench run --save-models``, ``aebench.load_model``) -----------------
    def state_arrays(self) -> dict[str, Any]:
        """The fitted state ``--save-models`` stores: name -> tensor or plain value (a number,
        a string, None, or a tuple or list of them).

        By default a torch module's ``state_dict()``; any other model's instance attributes
        but ``spec``, ``code_size`` and ``config`` (rebuilt from the record), i.e. the tensors
        and numbers its ``fit`` set. A model that holds anything else (a scikit-learn
        estimator, a generator) cannot be saved so: this raises :class:`NotImplementedError`
        naming the attribute, and the record says why nothing was saved. Such a model may
        override this and :meth:`load_state_arrays` to store its fitted arrays itself.
        """
        if isinstance(self, nn.Module):
            return dict(self.state_dict())
        state = {}
        for name, value in vars(self).items():
            if name in _REBUILT:
                continue
            if not _plain_state(value):
                raise NotImplementedError(
                    f"{type(self).__name__}.{name} holds a {type(value).__name__}, not arrays"
                )
            state[name] = value
        return state

    def load_state_arrays(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`state_arrays` returned (into a model built from the same
        spec, code size and config)."""
        if isinstance(self, nn.Module):
            self.load_state_dict(state, strict=True)
            return
        for name, value in state.items():
            setattr(self, name, value)


#: what a model is built from (the record has it): never part of its saved state
_REBUILT = frozenset({"spec", "code_size", "config"})


def _plain_state(value: Any, nested: bool = False) -> bool:
    """A tensor, or a plain value: a number, a string, None, a tuple or list of them."""
    if isinstance(value, (list, tuple)):
        return all(_plain_state(v, True) for v in value)
    if isinstance(value, Tensor):
        return not nested
    return value is None or isinstance(value, (bool, int, float, str))


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
        gradient_fit(self, train, ctx, lr=self.learning_rate(self.config))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # nn.Module defines to/train/eval; make sure the Model stubs don't shadow them.
    to = nn.Module.to
    train = nn.Module.train
    eval = nn.Module.eval
