"""Training-time data augmentation: random changes to training inputs that leave their label
true, so the net sees more varied examples than the data set holds.

It runs on whole batches on the device (the LightningModule's on_after_batch_transfer, while
training only), after the data module has standardized them: so every strength below is in
standardized units (one unit = one standard deviation of the train split's pixels/features).

    images (input_shape [C, H, W]), with kornia:
      crop_padding  pad by this many pixels (edge pixels repeated), then crop a random window of
                    the original size: shifts the image by up to that many pixels
      flip          probability of a horizontal mirror (keep 0 where a mirror changes the class)
      rotation      rotate by a random angle in [-rotation, rotation] degrees
      color_jitter  brightness: add a random shift in [-s, s]; contrast: scale the deviations
                    from the image's mean by a random factor in [1 - s, 1 + s]. Done with plain
                    torch on the standardized values (kornia's ColorJitter assumes [0, 1] input)
    any input:
      noise         add Gaussian noise of this std
    mixup (mixup() below) blends pairs of examples and their labels; the training step calls it.
"""

from __future__ import annotations

import kornia.augmentation as K
import numpy as np
import torch

from ..common import ConfigError

IMAGE_ONLY = ("crop_padding", "flip", "rotation", "color_jitter")
OPTIONS = (*IMAGE_ONLY, "noise", "mixup")


class Augment(torch.nn.Module):
    """x [B, *input_shape] -> a randomly changed x of the same shape, dtype and device.

    Randomness comes from torch's global generators (kornia's from the CPU one), so a fixed
    torch seed repeats it. With every option off it is the identity and bool(self) is False.
    Holds no parameters or buffers: it adds nothing to a checkpoint.
    """

    def __init__(
        self,
        input_shape,
        crop_padding: int = 0,
        flip: float = 0.0,
        rotation: float = 0.0,
        color_jitter: float = 0.0,
        noise: float = 0.0,
    ):
        super().__init__()
        input_shape = tuple(int(v) for v in input_shape)
        options = {
            "crop_padding": crop_padding,
            "flip": flip,
            "rotation": rotation,
            "color_jitter": color_jitter,
            "noise": noise,
        }
        for key, value in options.items():
            if value is None or float(value) < 0:
                raise ConfigError(f"regularizer.augment.{key}={value} must be >= 0 (0 = off)")
        if len(input_shape) != 3:
            for key in IMAGE_ONLY:
                if options[key]:
                    raise ConfigError(
                        f"regularizer.augment.{key}={options[key]} works on images only, but the inputs have shape {list(input_shape)}; "
                        f"unset it (regularizer.augment.{key}=0)"
                    )
        if float(flip) > 1:
            raise ConfigError(f"regularizer.augment.flip={flip} is a probability; use a value in [0, 1]")
        if int(crop_padding) != float(crop_padding):
            raise ConfigError(f"regularizer.augment.crop_padding={crop_padding} is a number of pixels; use an integer")

        steps = []
        if crop_padding:
            # "replicate": the new border repeats the edge (usually background); zeros would be
            # the mean intensity in standardized units
            steps.append(K.RandomCrop(input_shape[1:], padding=int(crop_padding), padding_mode="replicate"))
        if flip:
            steps.append(K.RandomHorizontalFlip(p=float(flip)))
        if rotation:
            # RandomAffine rather than RandomRotation: it rotates every image (p=1) and can fill
            # the corners from the border instead of with zeros (same reason as above)
            steps.append(K.RandomAffine(degrees=float(rotation), padding_mode="border", p=1.0))
        self.geometric = torch.nn.Sequential(*steps)
        self.color_jitter = float(color_jitter)
        self.noise = float(noise)

    @property
    def active(self) -> bool:
        return bool(len(self.geometric) or self.color_jitter or self.noise)

    def __bool__(self) -> bool:
        return self.active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        dtype = x.dtype
        x = x.float()  # kornia's warps want float32; a half batch goes back to half at the end
        if len(self.geometric):
            x = self.geometric(x)
        if self.color_jitter:
            per_image = (x.shape[0],) + (1,) * (x.ndim - 1)
            shift = (torch.rand(per_image, device=x.device) * 2 - 1) * self.color_jitter
            scale = 1 + (torch.rand(per_image, device=x.device) * 2 - 1) * self.color_jitter
            mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
            x = (x - mean) * scale + mean + shift
        if self.noise:
            x = x + torch.randn_like(x) * self.noise
        return x.to(dtype)

    def extra_repr(self) -> str:
        return f"color_jitter={self.color_jitter}, noise={self.noise}"


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator | None = None):
    """Mixup (Zhang et al. 2018): blend each example with another one of the batch.

    Returns (x_mixed, y, y_shuffled, lam) with x_mixed = lam * x + (1 - lam) * x[perm],
    lam ~ Beta(alpha, alpha), one per batch. Train on lam * loss(out, y) + (1 - lam) *
    loss(out, y_shuffled). `generator`: a CPU torch.Generator; None = torch's global one.
    """
    if alpha <= 0:
        raise ConfigError(f"regularizer.augment.mixup={alpha}: mixup needs alpha > 0 (0 = off, do not call it)")
    # torch's Beta sampler takes no generator: draw lam with numpy, seeded from the torch one
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


def build_augment(options, input_shape) -> Augment | None:
    """An Augment from the config block regularizer.augment; None when it is null or every
    option of Augment is off. `mixup` is only checked here: the training step reads it."""
    if options is None:
        return None
    options = dict(options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"regularizer.augment.{unknown[0]} is not an augmentation; the known ones are {', '.join(OPTIONS)}"
        )
    mixup_alpha = options.pop("mixup", 0) or 0
    if float(mixup_alpha) < 0:
        raise ConfigError(f"regularizer.augment.mixup={mixup_alpha} must be >= 0 (0 = off)")
    augment = Augment(input_shape, **{key: value for key, value in options.items() if value is not None})
    return augment if augment.active else None
