"""Checkpoints: a trained network and the state to resume its training, in one file that rebuilds both.

    save_checkpoint("run.pt", model, optimizer, scheduler, step=1200, epoch=3, best_score=0.94)
    model = load_model("run.pt")                      # the network alone, no dataset needed
    state = load_checkpoint("run.pt"); restore(state, model, optimizer, scheduler)   # resume

A checkpoint holds the weights, the `ModelConfig`, the optimizer's and scheduler's states, the step, epoch and
best validation score, every random generator's state, an optional training config, and the versions of
minidgl, torch and Python that wrote it. The checkpoints `fit(..., checkpoint=path)` writes after every epoch
also hold `training`: the method, the `History` so far, the weights of the epoch chosen on validation so far,
the shuffling generator's and the gradient scaler's states; `fit(..., resume=path)` continues from them
exactly, and `load_model(path, best=True)` gives the validation-selected network. Writes are atomic (a
temporary file renamed over the target), so an interrupted save leaves the previous checkpoint intact. Files
are read with `torch.load(weights_only=True)`.
"""
import os
import platform
from pathlib import Path

import torch

from .errors import InvalidValue, MissingFile
from .files import write_atomically
from .models import ModelConfig, build_model
from .runtime import rng_state, set_rng_state

FORMAT = 1


def save_checkpoint(path, model, optimizer=None, scheduler=None, step=0, epoch=0, best_score=None, train_config=None,
                    training=None):
    """Write a checkpoint of `model` (built by `build_model`, so that it has a `config`) to `path`, atomically.

    `train_config`: a `TrainConfig` or a dict of plain values, kept as a dict. `training`: what `fit` needs to
    resume besides the rest (a dict of tensors and plain values). Returns the path.
    """
    from . import __version__

    check_target(path, model)
    if train_config is not None and not isinstance(train_config, dict):
        train_config = {k: getattr(train_config, k) for k in train_config.__dataclass_fields__}
    state = {"format": FORMAT, "model_config": model.config.to_dict(), "model": model.state_dict(),
             "optimizer": None if optimizer is None else optimizer.state_dict(),
             "scheduler": None if scheduler is None else scheduler.state_dict(),
             "step": int(step), "epoch": int(epoch), "best_score": None if best_score is None else float(best_score),
             "rng": rng_state(), "train_config": train_config, "training": training,
             "versions": {"minidgl": __version__, "torch": str(torch.__version__), "python": platform.python_version()}}
    return write_atomically(path, lambda temporary: torch.save(state, temporary))


def check_target(path, model):
    """Raise a clear error unless a checkpoint of `model` can be written to `path` (checked before training)."""
    if getattr(model, "config", None) is None:
        raise InvalidValue("this model has no ModelConfig (it was not made by build_model), so a checkpoint could not "
                           "rebuild it; build it with minidgl.build_model(data or ModelConfig, ...)")
    path = Path(path)
    if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise InvalidValue(f"cannot write a checkpoint to {path}: give a file name in an existing, writable folder")


def load_checkpoint(path, map_location="cpu"):
    """The checkpoint at `path` as a dict (see `save_checkpoint`); tensors on `map_location`."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"no checkpoint at {path}: check the path, or train first and save one")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise InvalidValue(f"{path} is not a readable minidgl checkpoint ({type(error).__name__}: {error}); "
                           f"it may be truncated or from another program: save it again") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InvalidValue(f"{path} is not a minidgl checkpoint of format {FORMAT}: save it again with this version")
    return state


def load_model(path, device=None, best=False):
    """The network saved at `path`, rebuilt from its `ModelConfig` with its weights (on `device`, default cpu).

    `best=True`: the weights of the epoch chosen on validation, in a checkpoint `fit` wrote.
    """
    state = load_checkpoint(path, map_location=device or "cpu")
    model = build_model(ModelConfig.from_dict(state["model_config"]))
    if best and not (state.get("training") or {}).get("best_model"):
        raise InvalidValue(f"{path} holds no validation-selected weights: it was not written by fit(checkpoint=...) "
                           f"after an epoch; load it with best=False")
    model.load_state_dict(state["training"]["best_model"] if best else state["model"])
    return model.to(device or "cpu")


def restore(state, model, optimizer=None, scheduler=None, rng=True):
    """Load a `load_checkpoint` dict into `model` (and `optimizer`, `scheduler`; the random generators too,
    unless `rng=False`), to resume training where it stopped. Returns `(step, epoch, best_score)`."""
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise InvalidValue("the checkpoint holds no optimizer state; pass optimizer=None or save one with it")
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        if state["scheduler"] is None:
            raise InvalidValue("the checkpoint holds no scheduler state; pass scheduler=None or save one with it")
        scheduler.load_state_dict(state["scheduler"])
    if rng:
        set_rng_state(state["rng"])
    return state["step"], state["epoch"], state["best_score"]
