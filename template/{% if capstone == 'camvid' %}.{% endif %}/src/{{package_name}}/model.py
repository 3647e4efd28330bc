"""The segmentation networks: a U-Net (the default) and a lighter encoder-decoder for CPU budgets.

Both take a batch of RGB images as uint8 or float in 0..255, [N, 3, H, W] of any size, and return
class scores (logits) of the same height and width, [N, classes, H, W].
"""

import torch
import torch.nn.functional as F
from torch import nn

from .classes import NUM_CLASSES
from .plumbing.errors import UserError

# Mean and standard deviation of the CamVid training pixels per channel (RGB, 0..255 scale).
MEAN = (105.0, 108.4, 110.3)
STD = (78.3, 79.5, 78.3)


def build_model(cfg) -> nn.Module:
    """The network that `model.name` in configs/model/ names."""
    if cfg.name == "unet":
        model = UNet(NUM_CLASSES, width=cfg.width, depth=cfg.depth, dropout=cfg.dropout)
    elif cfg.name == "light":
        model = LightSegNet(NUM_CLASSES, width=cfg.width, depth=cfg.depth, dropout=cfg.dropout)
    else:
        raise UserError(f"model.name={cfg.name} is not a model of this project; use model=unet or model=light.")
    if cfg.channels_last:
        # Convolutions in the channels-last memory layout (N, H, W, C) are faster on CPUs (oneDNN)
        # and on GPUs with tensor cores: 1.5x per training step measured here.
        model.normalize.channels_last = True
        model = model.to(memory_format=torch.channels_last)
    return model


class Normalize(nn.Module):
    """0..255 pixels -> zero mean, unit variance per channel: the first layer, so callers pass raw pixels."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.channels_last = False  # set by build_model: the layout the convolutions compute in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    # No bias: the BatchNorm right after adds its own.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(in_channels, out_channels), conv_bn_relu(out_channels, out_channels))


class UNet(nn.Module):
    """U-Net (Ronneberger et al., 2015) with BatchNorm: an encoder that halves the image `depth`
    times while doubling the channels from `width`, and a decoder that upsamples back, joining
    the encoder's features of the same size (the skip connections keep the fine detail).
    """

    def __init__(self, num_classes: int, width: int = 16, depth: int = 4, dropout: float = 0.0):
        super().__init__()
        channels = [width * 2**level for level in range(depth + 1)]
        self.normalize = Normalize()
        self.stem = double_conv(3, channels[0])
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(channels[i], channels[i + 1])) for i in range(depth)
        )
        self.dropout = nn.Dropout2d(dropout)  # on the coarsest features, where most parameters are
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.up = nn.ModuleList(double_conv(2 * channels[i], channels[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0], num_classes, 1)
        self.multiple = 2**depth  # the image side must divide by this to halve `depth` times

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(self.normalize(images), self.multiple)
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        x = self.dropout(skips.pop())
        for upsample, block in zip(self.upsample, self.up, strict=True):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))
        return self.head(x)[..., :height, :width]


class LightSegNet(nn.Module):
    """A fast encoder-decoder in the spirit of ENet and LinkNet: it quarters the image at once,
    encodes with residual blocks of depthwise-separable convolutions, adds (rather than joins)
    the skip connections, and upsamples the class scores back to the input size.
    """

    def __init__(self, num_classes: int, width: int = 32, depth: int = 3, dropout: float = 0.0):
        super().__init__()
        channels = [width * 2**level for level in range(depth + 1)]
        self.normalize = Normalize()
        self.stem = nn.Sequential(
            conv_bn_relu(3, channels[0] // 2, stride=2), conv_bn_relu(channels[0] // 2, channels[0], stride=2)
        )
        self.down = nn.ModuleList(
            nn.Sequential(conv_bn_relu(channels[i], channels[i + 1], stride=2), SeparableResidual(channels[i + 1]))
            for i in range(depth)
        )
        self.dropout = nn.Dropout2d(dropout)
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels[i + 1], channels[i], 1, bias=False),
                nn.BatchNorm2d(channels[i]),
                nn.ReLU(inplace=True),
            )
            for i in reversed(range(depth))
        )
        self.refine = SeparableResidual(channels[0])
        self.head = nn.Conv2d(channels[0], num_classes, 1)
        # Padded like the U-Net, so every stride-2 step halves exactly and the upsampled scores line up
        # with the input pixels (the decoder would cope with odd sizes, but shifted by a fraction of a pixel).
        self.multiple = 4 * 2**depth

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(self.normalize(images), self.multiple)
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        x = self.dropout(skips.pop())
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(block(x), size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
        logits = self.head(self.refine(x))
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)  # the stem's quartering
        return logits[..., :height, :width]


class SeparableResidual(nn.Module):
    """x + (depthwise 3x3 -> pointwise 1x1) twice: the receptive field grows at a fraction of a conv's cost."""

    def __init__(self, channels: int):
        super().__init__()
        layers = []
        for _ in range(2):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                nn.Conv2d(channels, channels, 1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers[:-1])  # the last ReLU comes after the addition
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right edges so both sides divide by `multiple`; also return the original size."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (height, width)
