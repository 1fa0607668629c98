"""The host's side of training: ``FitContext`` (budget, batches, optimiser, divergence checks)
and the training loop every ``TorchModel`` uses.

The loop knows models only through ``loss`` and ``parameters``; ``aebench.model`` imports this
module (``TorchModel.fit`` calls :func:`gradient_fit`), never the other way round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from aebench.errors import Diverged

__all__ = ["FitContext", "gradient_fit"]


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

    With ``validation`` (a label-free figure on held-out examples, lower is better) and
    ``curve_points`` > 0, :func:`gradient_fit` takes the figure at that many evenly spaced
    steps of the budget (the last at its end) into ``val_curve``, as (samples seen, value);
    the time it takes is kept in ``curve_s``, off the fit's clock. With ``patience`` > 0 the
    loop stops once the figure has not improved for that many points, and the best point's
    weights are restored. A curve neither draws from ``generator`` nor moves torch's global
    random state, so the weights trained are those of a run without it.
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
        validation: Callable[[], float] | None = None,
        curve_points: int = 0,
        patience: int = 0,
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
        self.validation = validation
        self.curve_points = curve_points
        self.patience = patience
        #: (samples seen, validation figure) at each point taken; empty: no curve was taken
        self.val_curve: list[tuple[int, float]] = []
        #: seconds spent on the curve (evaluation's, not the fit's)
        self.curve_s = 0.0
        self.stopped_early = False
        self.best_point: int | None = None  #: index into ``val_curve`` of the best figure
        self._best_state: dict[str, Tensor] | None = None
        self._point_steps: list[int] = []
        self._next_due = -1  # the step count at which the next point is due (-1: none)
        self._curve_plan = (0, 0)  # (batch size, steps) of the budget

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
        self._plan_curve(bs, n_steps)
        while self.step < n_steps and not self.stopped_early:
            perm = torch.randperm(n, device=x.device, generator=self.generator)
            epoch_x = x.index_select(0, perm)  # x[perm]'s rows, ~5x faster on CPU
            if self.binarize:
                epoch_x = _bernoulli(epoch_x, self.generator)
            for i in range(min(per_epoch, n_steps - self.step)):
                yield epoch_x[i * bs : (i + 1) * bs]
                self.step += 1
                self.samples_seen += bs
                if self.stopped_early:
                    break
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
        # the curve's time is the evaluation's: off the clock throughput is measured on
        self.epoch_marks.append((self.samples_seen, time.perf_counter() - self.curve_s))
        self._checked = self.step

    def _plan_curve(self, bs: int, n_steps: int) -> None:
        """The steps after which the validation figure is due: evenly spaced, the last one
        ``n_steps`` (fewer points when there are fewer steps)."""
        self._curve_plan = (bs, n_steps)
        if self.validation is None or self.curve_points < 1:
            return
        k = self.curve_points
        self._point_steps = sorted({max(1, round(i * n_steps / k)) for i in range(1, k + 1)})
        self._next_due = self._point_steps[0]

    def after_step(self, model: nn.Module) -> None:
        """Called by the loop after each optimiser step: takes the curve's point when due
        (one integer comparison otherwise, no host sync)."""
        if self.step + 1 != self._next_due:  # ``step`` counts the steps before this one
            return
        done = len(self.val_curve) + 1
        self._next_due = self._point_steps[done] if done < len(self._point_steps) else -1
        value = self._validate(model)
        self.val_curve.append((self.samples_seen + self._curve_plan[0], value))
        best = None if self.best_point is None else self.val_curve[self.best_point][1]
        if math.isfinite(value) and (best is None or value < best):  # NaN never improves
            self.best_point = len(self.val_curve) - 1
            if self.patience > 0:
                self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif self.patience > 0 and len(self.val_curve) - 1 - (self.best_point or 0) >= (
            self.patience
        ):
            # ``batches`` ends after this step; at the budget's last step it ends anyway
            self.stopped_early = self.step + 1 < self._curve_plan[1]

    def _validate(self, model: nn.Module) -> float:
        """The validation figure, in eval mode, off the fit's clock and its random streams."""
        if self.device.type == "cuda":  # the queued training steps are the fit's time
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        state = self.generator.get_state()
        devices = [self.device] if self.device.type == "cuda" else []
        model.eval()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                value = float(self.validation())
        finally:
            model.train()
            self.generator.set_state(state)
        self.curve_s += time.perf_counter() - t0
        return value

    def finish_curve(self, model: nn.Module) -> None:
        """After the loop: with early stopping on, the best point's weights go back in."""
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
            self._best_state = None

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


def gradient_fit(model: nn.Module, train: Tensor, ctx: FitContext, lr: float | None = None) -> None:
    """Minimise ``model.loss`` (``model`` is a :class:`aebench.model.TorchModel`) with the protocol's optimiser until the budget is spent.

    The loss is computed under the protocol's precision (bf16 autocast when asked).
    No host syncs in the step: the loss is logged on the device and checked once per epoch;
    the validation curve (``ctx.curve_points``) syncs only at its points.
    """
    opt = ctx.make_optimizer(model.parameters(), lr)
    model.train()
    for batch in ctx.batches(train):
        with ctx.autocast():  # the backward pass runs outside, as autocast recommends
            loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ctx.log(loss)
        ctx.after_step(model)
    ctx.finish_curve(model)
    model.eval()
