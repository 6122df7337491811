"""Intermediate (dense) fusion: conv streams that exchange information inside the network through MMTM blocks.

The encoder/fusion cut, as in the DGL authors' MMTM model: each modality's encoder is a conv stem that stops
at a feature map `(batch, channels, height, width)` (encoder `"cnn-maps"`); everything after the cut is the
fusion: per-stream conv blocks with a multimodal transfer module (MMTM, Joze et al., CVPR 2020) after each
level, then global average pooling, concatenation and a shared `fc_out`.
"""
import torch
from torch import nn

from .fusion import Fusion


class MMTM(nn.Module):
    """Multimodal transfer module for any number of streams `channels` `{modality: C_m}`.

    Squeeze: each stream's map `(batch, C_m, H_m, W_m)` to its channel means `(batch, C_m)`; one joint
    `Linear-ReLU` over their concatenation to `hidden = sum_m C_m // reduction` units; excitation: per stream a
    `Linear` back to `C_m` whose sigmoid gates that stream's channels. Returns the gated maps, same shapes.
    """

    def __init__(self, channels, reduction=4):
        super().__init__()
        hidden = max(sum(channels.values()) // reduction, 1)
        self.joint = nn.Sequential(nn.Linear(sum(channels.values()), hidden), nn.ReLU())
        self.excite = nn.ModuleDict({m: nn.Linear(hidden, c) for m, c in channels.items()})

    def forward(self, maps):
        squeezed = self.joint(torch.cat([maps[m].mean(dim=(2, 3)) for m in self.excite], dim=1))
        return {m: maps[m] * torch.sigmoid(self.excite[m](squeezed))[:, :, None, None] for m in self.excite}


class MMTMFusion(Fusion):
    """Per-stream `Conv3x3-BatchNorm-ReLU` blocks (`depth` levels of `width` channels), an `MMTM` between the
    streams after every level, then each stream average-pooled to `(batch, width)`, concatenated and read by a
    shared `fc_out`. Takes feature maps `{modality: (batch, C_m, H_m, W_m)}` (sizes may differ between
    modalities), any number of modalities >= 2.

    Alone (the DGL authors' convention for their MMTM model): the whole fusion network re-run with every other
    stream's feature map replaced by zeros. The unimodal loss then goes through the same operator as the fused
    loss (conv blocks, MMTM gates, `fc_out`), so DGL's unimodal regularisation acts through the shared fusion,
    as it does for concat fusion; a separate head per encoder, or zeros only at `fc_out`, would skip the
    interaction layers. A zero map stays constant across the batch through every block, so modality m's
    unimodal logits depend on its own features only. The unimodal passes run in train mode on zero-padded
    inputs; `MultimodalNet` keeps them from touching the BatchNorm running statistics.
    """

    accepts_maps = True

    def __init__(self, feature_dims, num_classes, width=32, depth=2, reduction=4):
        super().__init__(feature_dims, num_classes)
        channels = dict(self.feature_dims)
        self.blocks, self.mmtm = nn.ModuleList(), nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.ModuleDict({m: nn.Sequential(nn.Conv2d(c, width, 3, padding=1),
                                                               nn.BatchNorm2d(width), nn.ReLU())
                                              for m, c in channels.items()}))
            channels = {m: width for m in channels}
            self.mmtm.append(MMTM(channels, reduction))
        self.fc_out = nn.Linear(width * len(channels), num_classes)

    def fuse(self, features):
        maps = {m: features[m] for m in self.modalities}
        for blocks, mmtm in zip(self.blocks, self.mmtm):
            maps = mmtm({m: blocks[m](x) for m, x in maps.items()})
        return self.fc_out(torch.cat([maps[m].mean(dim=(2, 3)) for m in self.modalities], dim=1))
