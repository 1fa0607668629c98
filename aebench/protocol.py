"""Named, versioned protocols: everything that must be equal for two runs to be compared.

A data-set plugin defines its protocols; the harness applies them the same way to every model.
Changing any field of a published protocol means a new version, never an edit in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aebench.errors import AebenchError, ProtocolError

TASKS = ("reconstruction", "anomaly")
#: ``Protocol.anomaly_train``: train on the normal training examples, or on all of them
ANOMALY_TRAIN = ("normal", "all")
BINARIZATIONS = ("dynamic", "none")
#: ``Protocol.eval_inputs``: what a run is evaluated on (see the field)
EVAL_INPUTS = ("model", "pixels")
OPTIMIZERS = ("adam",)
#: ``Protocol.anomaly_score_weighting`` (``aebench.run.metrics`` applies them)
SCORE_WEIGHTINGS = ("none", "inverse-variance")
PRECISIONS = ("fp32", "bf16")
#: ``Protocol.likelihoods``: "task" (a reconstruction task's boards show likelihoods, an
#: anomaly task's do not), or "all" / "none" whatever the task
LIKELIHOOD_SCOPES = ("task", "all", "none")
#: how torch's Adam updates the parameters: "single" (one set of kernels per parameter tensor,
#: torch's CPU default and what every record before this field used), "foreach" (the same
#: kernels batched over the tensors), "fused" (one fused kernel per tensor, CPU or CUDA).
#: Their rounding differs (tests/test_optimizer_impl.py says which agree bit for bit).
OPTIMIZER_IMPLS = ("single", "foreach", "fused")
#: fields added after protocols were published, with the default that keeps their behaviour
_ADDED_LATER = {
    "precision": "fp32",
    "likelihoods": "task",
    "optimizer_impl": "single",
    "family": "",
    "family_column": "",
    "location": "",
    "split_per_seed": False,
    "nll_examples": None,
    "contamination_matched": False,
    "val_curve_points": 0,
    "early_stopping_patience": 0,
    "gate_ratio": 0.95,
    "converged_tolerance": 0.01,
    "eval_inputs": "model",
}
#: where the data lives on this machine: recorded, but two runs on the same files compare
_NOT_FINGERPRINTED = ("location",)


@dataclass(frozen=True)
class Protocol:
    """A fixed benchmark protocol.

    ``budget_samples`` is the training budget in examples seen (full batches only: a last partial
    batch is dropped each epoch so it cannot bias a gradient). ``lr`` is the default optimiser
    step size; a model may declare its own where its method needs it, and that is recorded.
    """

    name: str
    version: int
    dataset: str
    code_size: int
    budget_samples: int
    batch_size: int = 128
    hidden_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    #: one of ``OPTIMIZER_IMPLS``; "fused" is the fast one (the training loop of mnist-v1's
    #: 784-512-32 MLPs 1.1-1.3x faster on one CPU thread, tests/benchmarks/test_harness_speed.py),
    #: "single" keeps the published records' numbers
    optimizer_impl: str = "single"
    seeds: tuple[int, ...] = (0, 1, 2)
    val_fraction: float = 0.1
    split_seed: int = 12345
    #: True: each run seed draws its own split (for data sets with no official one), with split
    #: seed ``aebench.dataset.run_split_seed(protocol, seed)``; False: every seed uses
    #: ``split_seed``. Either way the record's ``dataset.split_seed`` names the split it used.
    split_per_seed: bool = False
    # "dynamic": binary-likelihood models see pixels ~ Bernoulli(intensity), re-drawn each
    # epoch; the test set is binarised once with ``test_binarization_seed``.
    binarization: str = "dynamic"
    test_binarization_seed: int = 0
    #: what every run is evaluated on (validation and test reconstruction, likelihoods, the
    #: anomaly threshold's calibration and the anomaly scores). "model" (what every protocol
    #: published before this field used): a model with a Bernoulli likelihood
    #: (``Capabilities.binary``, under binarization "dynamic") is evaluated on one fixed draw
    #: x ~ Bernoulli(pixels) seeded with ``test_binarization_seed``, every other model on the
    #: pixels, so rows of one board score different inputs. "pixels": every row, binary models
    #: too, is evaluated on the pixel intensities. The Bernoulli likelihood of an intensity
    #: vector is then the soft-target cross-entropy −Σ_i [x_i log p_i + (1−x_i) log(1−p_i)],
    #: which for a factorised decoder with fixed parameters p (given z) equals the expectation
    #: E_{b~Bernoulli(x)}[−log p(b | z)] over Bernoulli draws of the pixels; a model whose
    #: encoder or energy sees the input (a VAE's q(z|x), an RBM's free energy) is evaluated at
    #: the intensities themselves, which is not the expectation of its score over draws (its
    #: log-likelihood is not linear in x). "pixels" is the natural input of the squared-error
    #: autoencoders and needs no draw, so every row of a board then scores the same inputs.
    #: Training is the same under both: binary models still train on dynamic binarisation.
    eval_inputs: str = "model"
    eval_batch_size: int = 1000
    # Likelihood estimators: importance samples for IWAE, AIS chains / temperatures / repeats.
    iwae_k: int = 1000
    iwae_examples: int | None = None  # IWAE on the first N test examples (None: all)
    #: the test examples every model's likelihood is measured on: None, all of them; N, a random
    #: subset of N stratified by test label, seeded with the run's split seed (the same subset
    #: for every model of a run unit; see ``aebench.run.nll_examples``). Not with ``iwae_examples``.
    nll_examples: int | None = None
    ais_chains: int = 100
    ais_betas: int = 10000
    ais_runs: int = 3
    #: "reconstruction", or "anomaly": the data set's AnomalyTask defines normal/anomalous
    task: str = "reconstruction"
    #: anomaly task: train on "normal" examples only, or on "all" (a contaminated variant)
    anomaly_train: str = "normal"
    #: anomaly task: the label-free threshold is this quantile of the anomaly scores on the
    #: held-out validation slice (its normal part under "normal", all of it under "all")
    threshold_quantile: float = 0.95
    #: anomaly task, ``anomaly_train="all"`` only: the quantile is 1 − the calibration slice's
    #: contamination rate instead of ``threshold_quantile``. The rate is taken as known: label
    #: information at the data-set level (as PyOD's ``contamination`` parameter), never per example
    contamination_matched: bool = False
    #: anomaly task, reconstruction-error scores only: "none" (mean squared error) or
    #: "inverse-variance" (each feature's squared error weighted by 1 / (its variance over the
    #: model's training inputs + 1/n), so rare features count as much as common ones)
    anomaly_score_weighting: str = "none"
    #: "fp32", or "bf16": gradient-trained models compute their training loss under bf16
    #: autocast (meant for CUDA; CPU autocast works but is rarely faster). Evaluation stays fp32.
    precision: str = "fp32"
    #: which likelihood estimators run (AIS, IWAE, ...: often most of a run's evaluation
    #: time): "task" runs them where the task's boards show them (reconstruction) and skips
    #: them elsewhere (anomaly); "all" or "none" whatever the task (see ``LIKELIHOOD_SCOPES``)
    likelihoods: str = "task"
    #: protocols of one family (e.g. each class in turn the normal class) share a board: one
    #: column per member, headed ``family_column``, beside the members' own boards
    family: str = ""
    family_column: str = ""
    #: gradient-trained models (the harness's loop): the validation figure (reconstruction MSE
    #: on the validation slice where the model reconstructs, else its own loss there) taken at
    #: this many evenly spaced points of the budget, the last at its end, and recorded as the
    #: record's ``training.val_curve``; 0: no curve (what protocols before this field did)
    val_curve_points: int = 0
    #: > 0 (needs ``val_curve_points``): stop once the validation figure has not improved for
    #: this many points in a row and keep the best point's weights; the budget is the cap
    early_stopping_patience: int = 0
    #: the learning gate: a row learned when its validation reconstruction MSE is below this
    #: fraction of the training mean's on the same slice (``aebench.run.learning.learned``)
    gate_ratio: float = 0.95
    #: a curve's run is "not converged" when the best validation figure of its last quarter
    #: improves on the best before by more than this fraction
    converged_tolerance: float = 0.01
    #: for data sets that read a user's files: where they are (the files' SHA-256 values,
    #: in ``params``, are what the fingerprint sees, so the same files elsewhere compare)
    location: str = ""
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # checked here, not per run: a data set whose protocol is mistyped fails to load, and
        # the loader names its plugin
        self.check()

    def check(self) -> None:
        """Every field holds a value a run can use (:class:`ProtocolError` naming the field)."""
        problem = _problem(self)
        if problem:
            raise ProtocolError(f"protocol {self.name}-v{self.version}: {problem}")

    @property
    def key(self) -> str:
        """``name-vN``: what records and leaderboards are grouped by."""
        return f"{self.name}-v{self.version}"

    @property
    def estimates_likelihoods(self) -> bool:
        """Whether a run under this protocol asks its model for likelihood estimates."""
        if self.likelihoods == "task":
            return self.task == "reconstruction"
        return self.likelihoods == "all"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        # fields added after protocols were published appear only when set, so the
        # fingerprints (and stored records) of those protocols stay valid
        for name, default in _ADDED_LATER.items():
            if d[name] == default:
                del d[name]
        return d

    def with_overrides(self, **overrides: Any) -> Protocol:
        """A copy with fields changed; the result is a *variant*, recorded as such."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown protocol field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **overrides)

    def fingerprint(self) -> str:
        """A short hash of every field but ``location``: two runs compare only when it is equal."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_FINGERPRINTED}
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _problem(p: Protocol) -> str | None:
    """The first field of ``p`` that no run could use, in words, or None."""
    for name, known in (
        ("task", TASKS),
        ("anomaly_train", ANOMALY_TRAIN),
        ("binarization", BINARIZATIONS),
        ("eval_inputs", EVAL_INPUTS),
        ("optimizer", OPTIMIZERS),
        ("optimizer_impl", OPTIMIZER_IMPLS),
        ("anomaly_score_weighting", SCORE_WEIGHTINGS),
        ("precision", PRECISIONS),
        ("likelihoods", LIKELIHOOD_SCOPES),
    ):
        value = getattr(p, name)
        if value not in known:
            return f"{name} {value!r} is not one of {known}"
    for name in ("version", "code_size", "budget_samples", "batch_size", "eval_batch_size"):
        value = getattr(p, name)
        if not isinstance(value, int) or value < 1:
            return f"{name} must be a positive integer, not {value!r}"
    if not p.seeds or any(not isinstance(s, int) or s < 0 for s in p.seeds):
        return f"seeds must be non-negative integers, not {p.seeds!r}"
    if not p.lr > 0:
        return f"lr must be positive, not {p.lr!r}"
    if not 0 <= p.val_fraction < 1:
        return f"val_fraction must be in [0, 1), not {p.val_fraction!r}"
    if not 0 < p.threshold_quantile <= 1:
        return f"threshold_quantile must be in (0, 1], not {p.threshold_quantile}"
    if p.contamination_matched and p.anomaly_train != "all":
        return (
            "contamination_matched needs anomaly_train='all' (a calibration slice of normal "
            "examples has no contamination to match)"
        )
    for name in ("val_curve_points", "early_stopping_patience"):
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{name} must be a non-negative integer, not {value!r}"
    if p.early_stopping_patience and not p.val_curve_points:
        return "early_stopping_patience needs val_curve_points > 0 (it stops on that curve)"
    if not 0 < p.gate_ratio <= 1:
        return f"gate_ratio must be in (0, 1], not {p.gate_ratio!r}"
    if not p.converged_tolerance >= 0:
        return f"converged_tolerance must be >= 0, not {p.converged_tolerance!r}"
    if p.nll_examples is not None and p.nll_examples < 1:
        return f"nll_examples must be >= 1 or None, not {p.nll_examples}"
    if p.nll_examples is not None and p.iwae_examples is not None:
        return (
            "set nll_examples or iwae_examples, not both (iwae_examples would evaluate only the "
            "first of the nll_examples)"
        )
    return None


def resolve_key(asked: str, known: Iterable[tuple[str, str]]) -> str:
    """The record group ``asked`` names: a protocol ``name`` (its first version in ``known``),
    its ``name-vN``, or a variant ``name-vN~fingerprint`` (kept as asked).

    ``known`` holds (name, key) pairs, the version a bare name means first. Every command that
    takes ``-p`` resolves it here, so a name means the same everywhere. An unknown name is an
    error listing the known keys; an unknown version of a known name, its versions.
    """
    base, tilde, fingerprint = asked.partition("~")
    pairs = list(known)
    for name, key in pairs:
        if base in (name, key):
            return key + tilde + fingerprint
    name, _, version = base.rpartition("-v")
    own = sorted({k for n, k in pairs if n == name}, key=lambda k: int(k.rpartition("-v")[2]))
    if own and version.isdigit():  # a version that does not exist: name the ones that do
        listed = ", ".join(own) + " (newest)" if len(own) > 1 else f"only {own[0]}"
        raise AebenchError(f"unknown protocol {asked!r}; {name} has {listed}")
    keys = ", ".join(dict.fromkeys(key for _, key in pairs)) or "none"
    raise AebenchError(f"unknown protocol {asked!r}; known: {keys} (see `aebench list`)")
