"""minidgl: why multimodal networks under-train their encoders, and Disentangled Gradient Learning.

    data = minidgl.make_av_digits()
    model = minidgl.build_model(data, encoder="mlp", fusion="concat")
    history = minidgl.fit(model, data, method=minidgl.DGL())

The core (data, models, routing, methods, training, diagnostics, experiments) needs torch only; the course's
plots, lab widget, exercises and studies live in `minidgl.course`, imported on demand.
"""
from . import diagnostics, experiments, probing
from .data import (MultimodalDataset, Splits, load_dataset, make_av_digits, make_gaussian_toy, make_gaussian_trio,
                   stratified_split)
from .methods import DGL, METHODS, MMPareto, OGM, OGMGE, Joint, Method, Uniform, Unimodal, get_method
from .checkpoint import load_checkpoint, load_model, restore, save_checkpoint
from .models import ENCODERS, FUSIONS, ModelConfig, MultimodalNet, Output, build_model
from .routing import JOINT, UNIFORM, Losses, Routing, dgl_routing, routed_loss
from .runtime import default_device, seed_everything
from .experiments import compare
from .train import History, Step, TrainConfig, evaluate, fit, train_step

__version__ = "0.1.0"

__all__ = ["DGL", "ENCODERS", "FUSIONS", "History", "JOINT", "Joint", "Losses", "METHODS", "MMPareto", "Method",
           "MultimodalDataset", "MultimodalNet", "OGM", "OGMGE", "Output", "Routing", "Splits", "TrainConfig",
           "UNIFORM", "Uniform", "Unimodal", "build_model", "compare", "default_device", "dgl_routing",
           "diagnostics", "evaluate", "experiments", "fit", "probing",
           "get_method", "load_dataset", "make_av_digits", "make_gaussian_toy", "make_gaussian_trio", "routed_loss",
           "seed_everything", "stratified_split", "Step", "train_step", "ModelConfig", "save_checkpoint",
           "load_checkpoint", "load_model", "restore"]
