"""The host's training loop for gradient-trained models (every TorchModel uses it)."""

from __future__ import annotations

from torch import Tensor

from aebench.model import FitContext, TorchModel


def gradient_fit(
    model: TorchModel, train: Tensor, ctx: FitContext, lr: float | None = None
) -> None:
    """Minimise ``model.loss`` with the protocol's optimiser until the budget is spent.

    The loss is computed under the protocol's precision (bf16 autocast when asked).
    No host syncs in the step: the loss is logged on the device and checked once per epoch.
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
    model.eval()
