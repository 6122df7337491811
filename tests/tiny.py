"""A tiny multimodal MLP and a random batch for gradient tests: exact checks need no real data."""
import torch

from minidgl.models import MLPEncoder, MultimodalNet, build_fusion

DIMS = {"audio": 6, "visual": 5, "text": 4}


def make_model(modalities, fusion="concat", seed=0):
    """MLP encoders `(DIMS[m],) -> (8,)` per modality, `fusion` head over 5 classes."""
    torch.manual_seed(seed)
    encoders = {m: MLPEncoder((DIMS[m],), out_dim=8, hidden=(12,)) for m in modalities}
    head = build_fusion(fusion, {m: 8 for m in modalities}, num_classes=5)
    return MultimodalNet(encoders, head, {m: (DIMS[m],) for m in modalities})


def make_batch(modalities, n=16, seed=1, scale=None):
    """`({m: (n, DIMS[m])}, (n,) labels)`, modality `m` multiplied by `scale[m]` (default 1)."""
    g = torch.Generator().manual_seed(seed)
    scale = scale or {}
    inputs = {m: torch.randn(n, DIMS[m], generator=g) * scale.get(m, 1.0) for m in modalities}
    return inputs, torch.randint(0, 5, (n,), generator=g)
