"""Everything a training run needs to continue exactly where it stopped, without pickle.

After each epoch, `save` writes OUT/epochs/NNNN/: a full checkpoint (config.json,
model.safetensors) plus train_state.safetensors (Adam's moments and step counts,
the random-number generators' states) and train_state.json (the rest). When the
run keeps a moving average of its weights (ema_decay), the checkpoint holds the
average and trained.safetensors the weights being optimised. Only then is
OUT/last.json, the pointer to it, replaced atomically; older epochs are removed.
A crash at any moment leaves last.json naming a complete epoch directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch.optim.swa_utils import AveragedModel

from . import checkpoint
from .checkpoint import Checkpoint, CheckpointError, atomic_write
from .model import Seq2Seq

POINTER = "last.json"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
TRAINED = "trained.safetensors"


def save(out: Path, ckpt: Checkpoint, model: Seq2Seq, opt: torch.optim.Optimizer, data_rng: torch.Generator,
         averaged: AveragedModel | None = None) -> Path:
    """ckpt.model is `model`, or with `averaged` its moving average `averaged.module`."""
    epoch = ckpt.metrics["history"][-1]["epoch"]
    rel = f"epochs/{epoch:04d}"
    directory = out / rel
    checkpoint.save(directory, ckpt)
    opt_state = opt.state_dict()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.data": data_rng.get_state()}
    for param, slots in opt_state["state"].items():
        for name, value in slots.items():
            tensors[f"opt.{param}.{name}"] = value.contiguous()
    if averaged is not None:
        tensors["ema.n_averaged"] = averaged.n_averaged
        atomic_write(directory / TRAINED, lambda tmp: save_model(model, tmp))
    atomic_write(directory / STATE_TENSORS, lambda tmp: save_file(tensors, tmp))
    meta = {"epoch": epoch, "param_groups": opt_state["param_groups"]}
    atomic_write(directory / STATE_JSON, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
    atomic_write(out / POINTER, lambda tmp: Path(tmp).write_text(json.dumps({"epoch": epoch, "path": rel})))
    for old in (out / "epochs").iterdir():
        if old.name != f"{epoch:04d}":
            shutil.rmtree(old, ignore_errors=True)
    return directory


def last_checkpoint_dir(out: Path) -> Path:
    """The epoch directory that OUT/last.json points to."""
    pointer = out / POINTER
    try:
        rel = json.loads(pointer.read_text())["path"]
        if not isinstance(rel, str):
            raise TypeError("'path' must be a string")
    except FileNotFoundError:
        raise CheckpointError(f"{pointer}: not found; {out} has no completed epoch to resume from") from None
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise CheckpointError(f"{pointer}: unreadable: {e!r}") from None
    directory = (out / rel).resolve()
    if out.resolve() not in directory.parents:
        raise CheckpointError(f"{pointer}: points outside {out}")
    return directory


def load(out: Path, model: Seq2Seq, opt: torch.optim.Optimizer, data_rng: torch.Generator,
         averaged: AveragedModel | None = None) -> dict:
    """Restore model, its average, optimiser and generators in place; returns {'epoch', 'history', 'best'}."""
    directory = last_checkpoint_dir(out)
    saved = checkpoint.load(directory)
    if saved.model_cfg != model.cfg:
        raise CheckpointError(f"{directory}: saved model config differs from the run's")
    try:
        if averaged is None:
            model.load_state_dict(saved.model.state_dict())
        else:
            averaged.module.load_state_dict(saved.model.state_dict())
            load_model(model, directory / TRAINED)
        tensors = load_file(directory / STATE_TENSORS)
        meta = json.loads((directory / STATE_JSON).read_text())
        slots: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, param, name = key.split(".")
                slots.setdefault(int(param), {})[name] = value
        for group in meta["param_groups"]:
            group["betas"] = tuple(group["betas"])
        opt.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
        if averaged is not None:
            averaged.n_averaged.copy_(tensors["ema.n_averaged"])
        torch.set_rng_state(tensors["rng.torch"])
        data_rng.set_state(tensors["rng.data"])
        return {"epoch": meta["epoch"], "history": saved.metrics["history"], "best": saved.metrics["best"]}
    except (OSError, SafetensorError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
        raise CheckpointError(f"{directory}: training state unreadable: {e!r}") from None
