"""Encoders, fusion modules and the multimodal network."""
from .encoders import ENCODERS, MLPEncoder, ResNet18Encoder, SmallCNNEncoder, build_encoder
from .dense import MMTM, MMTMFusion
from .fusion import (FUSIONS, AttentionFusion, BilinearFusion, ConcatFusion, FiLMFusion, Fusion, GatedFusion,
                     SumFusion, Tokens, build_fusion)
from .net import ModelConfig, MultimodalNet, Output, build_model

__all__ = ["ENCODERS", "FUSIONS", "AttentionFusion", "BilinearFusion", "ConcatFusion", "FiLMFusion", "Fusion",
           "GatedFusion", "MLPEncoder", "MMTM", "MMTMFusion", "ModelConfig", "MultimodalNet", "Output",
           "ResNet18Encoder", "SmallCNNEncoder", "SumFusion", "Tokens", "build_encoder", "build_fusion", "build_model"]
