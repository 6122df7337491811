"""Modality encoders: each maps one modality's batch `(batch, *input_shape)` to features `(batch, out_dim)`, or
(`SmallCNNEncoder`'s other outputs) to tokens or feature maps.

Every encoder declares `out_dim`, the width (channels) of its features; `build_model` sizes the fusion from it,
and pairs encoders that return feature maps (`returns_maps`) with a fusion that takes them."""
import math
from functools import partial

from torch import nn

from ..errors import InvalidValue
from .fusion import Tokens


class MLPEncoder(nn.Module):
    """Flatten, then `Linear-ReLU` layers ending in `out_dim` non-negative features."""

    def __init__(self, input_shape, out_dim=64, hidden=(256,)):
        super().__init__()
        sizes = [math.prod(input_shape), *hidden, out_dim]
        layers = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x):
        return self.net(x)


class SmallCNNEncoder(nn.Module):
    """Two 3x3 conv blocks and global average pooling, for `(channels, height, width)` images or spectrograms.

    `output` says what the encoder returns: `"pooled"` features `(batch, out_dim)`; `"tokens"`, the feature
    map's cells as `Tokens` `(batch, height * width, out_dim)`, for the attention fusion; `"maps"`, the feature
    map itself `(batch, out_dim, height, width)`, for an intermediate fusion (`minidgl.models.dense`) that
    goes on with conv blocks of its own: the encoder/fusion cut is after the second conv block.
    """

    OUTPUTS = ("pooled", "tokens", "maps")

    def __init__(self, input_shape, out_dim=64, width=32, output="pooled"):
        super().__init__()
        if output not in self.OUTPUTS:
            raise InvalidValue(f"SmallCNNEncoder output must be one of {self.OUTPUTS}, got {output!r}")
        channels = input_shape[0]
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out_dim, 3, padding=1), nn.BatchNorm2d(out_dim), nn.ReLU(),
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()) if output == "pooled" else None
        self.output = output
        self.returns_maps = output == "maps"
        self.out_dim = out_dim

    def forward(self, x):
        maps = self.net(x)
        if self.output == "pooled":
            return self.pool(maps)
        if self.output == "tokens":
            return Tokens.unpadded(maps.flatten(2).transpose(1, 2))
        return maps


class ResNet18Encoder(nn.Module):
    """torchvision's ResNet-18 from scratch (as the DGL authors train it), 512 pooled features.

    Input `(batch, C, H, W)`, or `(batch, C, T, H, W)` for T video frames: frames are encoded as a batch
    and their features averaged, which equals the authors' average pooling over (T, H, W).
    The first convolution takes `C` channels (1 for spectrograms, 3 for RGB frames).
    """

    def __init__(self, input_shape, out_dim=512):
        super().__init__()
        if out_dim != 512:
            raise InvalidValue(f"ResNet-18 produces 512 features; got out_dim={out_dim}")
        import torchvision  # imported here: `import minidgl` stays light

        resnet = torchvision.models.resnet18(weights=None)
        channels = input_shape[0]
        if channels != 3:
            resnet.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        resnet.fc = nn.Identity()
        self.net = resnet
        self.out_dim = 512

    def forward(self, x):
        if x.ndim == 5:
            b, c, t, h, w = x.shape
            frames = x.transpose(1, 2).reshape(b * t, c, h, w)
            return self.net(frames).view(b, t, -1).mean(dim=1)
        return self.net(x)


ENCODERS = {"mlp": MLPEncoder, "cnn": SmallCNNEncoder, "cnn-tokens": partial(SmallCNNEncoder, output="tokens"),
            "cnn-maps": partial(SmallCNNEncoder, output="maps"), "resnet18": ResNet18Encoder}


def build_encoder(kind, input_shape, out_dim=64):
    """An encoder by name (see `ENCODERS`) for per-sample inputs of `input_shape`."""
    if kind not in ENCODERS:
        raise InvalidValue(f"unknown encoder '{kind}'; choose one of {sorted(ENCODERS)}")
    if kind in ("cnn", "cnn-tokens", "cnn-maps", "resnet18") and len(input_shape) not in (3, 4):
        raise InvalidValue(f"encoder '{kind}' needs (channels, height, width) inputs, got per-sample shape "
                           f"{tuple(input_shape)}; use 'mlp' for flat features")
    if kind == "resnet18":
        return ResNet18Encoder(input_shape)
    return ENCODERS[kind](input_shape, out_dim=out_dim)
