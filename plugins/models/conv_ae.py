"""Convolutional autoencoder: 3×3 convolutions that halve the image, transposed convolutions up.

Masci, Meier, Cireşan & Schmidhuber, "Stacked convolutional auto-encoders for hierarchical
feature extraction", ICANN 2011; lecture 002's CNN-based autoencoder (Conv2D 3×3, 'same'
padding, ReLU, then 2×2 max-pooling with 'same' padding, per level).

Each level halves the height and width, rounding up (Keras's ``padding='same'``), so any image
size works: 28 → 14 → 7 for MNIST, 8 → 4 → 2 for digits. ``downsample="pool"`` is the lecture's
conv + max-pool; the default is a 3×3 convolution of stride 2. Channels and downsampling were
chosen on MNIST's validation carve (mnist-v2, 384k samples, seed 0, the test split emptied;
results/scripts/default_screen.py, figures in results/screens/), lowest validation MSE/pixel:

==========  =======  =======
channels    stride   pool
==========  =======  =======
(16, 32)    0.00600  0.00641
(32, 64)    0.00549  0.00564
==========  =======  =======

Pooling also took about twice the fit time (552 s against 308 s for (32, 64)). Unlike the
lecture's example, whose code is the last volume of feature maps, the code here is a dense
layer of ``code_size`` units after it, so the model is compared with the others at the
protocol's code size. Each transposed convolution (3×3, stride 2) gets the
output padding that lands exactly on the encoder's size at that level.

Reconstruction is Bernoulli cross-entropy on logits, summed over pixels and averaged over the
batch; ``decode`` returns the sigmoid means, flat.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aebench import Capabilities, DataSpec, TorchModel, hookimpl
from aebench.tuning import Choice, Float

__all__ = ["SEARCH_SPACE", "ConvAE", "ConvAEConfig"]


@dataclass(frozen=True)
class ConvAEConfig:
    #: feature maps per level (chosen on validation data: see the module docstring); (32, 64)
    #: costs about twice the time per step of (16, 32)
    channels: tuple[int, ...] = (32, 64)
    #: "pool": 3×3 conv then 2×2 max-pooling (the lecture's); "stride": a 3×3 conv of stride 2
    downsample: str = "stride"
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.downsample not in ("pool", "stride"):
            raise ValueError("downsample must be 'pool' or 'stride'")

    @classmethod
    def tiny(cls) -> ConvAEConfig:
        return cls(channels=(4, 8))


#: what ``aebench tune`` searches (validation data only); the defaults above are the
#: starting point, not the outcome of this search
SEARCH_SPACE = {
    "channels": Choice((16, 32), (32, 64)),
    "downsample": Choice("stride", "pool"),
    "lr": Float(1e-4, 1e-2, log=True),
}


class ConvAE(TorchModel):
    """Strided-conv (or conv + max-pool) encoder, dense code, transposed-conv decoder; images."""

    capabilities = Capabilities(inputs=("image",))

    def __init__(self, spec: DataSpec, code_size: int, config: ConvAEConfig) -> None:
        super().__init__(spec, code_size, config)
        if len(spec.shape) != 3:
            raise ValueError(f"conv_ae needs (C, H, W) images, got shape {spec.shape}")
        c_in, h, w = spec.shape
        chans = (c_in, *config.channels)
        sizes = [(h, w)]
        for _ in config.channels:
            sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))

        down: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            if config.downsample == "pool":
                down += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            else:  # ceil(s / 2) outputs too: floor((s + 2 - 3) / 2) + 1
                down += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*down, nn.Flatten())
        self._volume = (chans[-1], *sizes[-1])
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]
        self.to_code = nn.Linear(flat, code_size)
        self.from_code = nn.Sequential(nn.Linear(code_size, flat), nn.ReLU())

        up: list[nn.Module] = []
        for level in range(len(config.channels), 0, -1):
            (hi, wi), (ho, wo) = sizes[level], sizes[level - 1]
            pad = (ho - 2 * hi + 1, wo - 2 * wi + 1)  # 1 when the target size is even
            up.append(nn.ConvTranspose2d(chans[level], chans[level - 1], 3, 2, 1, pad))
            if level > 1:
                up.append(nn.ReLU())
        self.upsample = nn.Sequential(*up)  # logits

    def encode(self, x: Tensor) -> Tensor:
        return self.to_code(self.features(x.view(-1, *self.spec.shape)))

    def _logits(self, z: Tensor) -> Tensor:
        return self.upsample(self.from_code(z).view(-1, *self._volume)).flatten(1)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self._logits(z))

    def loss(self, batch: Tensor) -> Tensor:
        logits = self._logits(self.encode(batch))
        return F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / batch.shape[0]


@hookimpl
def aebench_register_models(register):
    register(
        "conv_ae",
        ConvAE,
        config=ConvAEConfig,
        tags=("autoencoder", "convolutional"),
        search_space=SEARCH_SPACE,
    )
