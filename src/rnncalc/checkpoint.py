"""Checkpoints: a directory of `config.json` (everything that is not a tensor) and
`model.safetensors` (the weights). Nothing is ever pickled or unpickled, so
opening a checkpoint cannot run code. Files are written to a temporary name and
renamed into place, so a crash never leaves a half-written file behind.

config.json records two digests: of the weights file, and of the settings that give the
weights their meaning (vocabulary, task, model). An edited `reverse_input` or `digits`
would load and answer wrongly; the digest refuses it. Training settings and metrics are
free to edit.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model

from .config import ConfigError, ModelConfig, TaskConfig, TrainConfig, key_problems
from .model import Seq2Seq
from .vocab import Vocab, VocabError

FORMAT_VERSION = 2  # 2 added config_sha256; version 1 files still load
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MAX_CONFIG_BYTES = 10_000_000  # a config with its training history is a few kB


class CheckpointError(ValueError):
    """A checkpoint that is missing, malformed, from a newer version, or not ours."""


@dataclass
class Checkpoint:
    """A model with everything needed to rebuild and use it."""

    model: Seq2Seq
    task: TaskConfig
    train: TrainConfig
    vocab: Vocab = field(default_factory=Vocab)
    metrics: dict = field(default_factory=dict)

    @property
    def model_cfg(self) -> ModelConfig:
        return self.model.cfg


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path over path."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private (0600); a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(directory: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Write ckpt into directory (created if needed); config.json goes last."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "vocab": ckpt.vocab.to_dict(),
        "task": ckpt.task.to_dict(),
        "model": ckpt.model_cfg.to_dict(),
        "train": ckpt.train.to_dict(),
        "metrics": ckpt.metrics,
        "torch_version": torch.__version__,
    }
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_model(ckpt.model, tmp))
    meta["weights_sha256"] = _sha256(directory / WEIGHTS_FILE)
    meta["config_sha256"] = settings_sha256(meta)
    text = json.dumps(meta, indent=2) + "\n"
    atomic_write(directory / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
    return directory


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def settings_sha256(meta: dict) -> str:
    """sha256 of the vocab, task and model entries of a config, as canonical JSON."""
    settings = {key: meta[key] for key in ("vocab", "task", "model")}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def read_config(directory: str | os.PathLike) -> dict:
    """Parse and check config.json; raises CheckpointError naming the file and the problem."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: not a directory; a checkpoint is a directory holding "
                              f"{CONFIG_FILE} and {WEIGHTS_FILE}")
    if not path.exists() and any((directory / d / CONFIG_FILE).is_file() for d in ("best", "final")):
        raise CheckpointError(f"{directory} is a training run, not a checkpoint: use {directory / 'best'} "
                              f"or {directory / 'final'}")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; not a checkpoint config")
        meta = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found (is {directory} a checkpoint directory?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON: {e}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version!r} is not supported "
                              f"(this rnncalc reads 1..{FORMAT_VERSION}; a newer rnncalc may read it)")
    expected = {"format_version", "vocab", "task", "model", "train", "metrics", "torch_version", "weights_sha256"}
    if version >= 2:
        expected.add("config_sha256")
    problems = key_problems(meta, expected)
    if problems:
        raise CheckpointError(f"{path}: {problems}")
    if not isinstance(meta["metrics"], dict):
        raise CheckpointError(f"{path}: 'metrics' must be a JSON object")
    return meta


def load(directory: str | os.PathLike) -> Checkpoint:
    """Rebuild the model from config.json, then load the weights into it (strictly)."""
    directory = Path(directory)
    meta = read_config(directory)
    config_path = directory / CONFIG_FILE
    try:
        vocab = Vocab.from_dict(meta["vocab"])
        task = TaskConfig.from_dict(meta["task"])
        model_cfg = ModelConfig.from_dict(meta["model"])
        train_cfg = TrainConfig.from_dict(meta["train"])
        if model_cfg.vocab_size != len(vocab):
            raise ConfigError(f"model vocab_size {model_cfg.vocab_size} != vocabulary size {len(vocab)}")
        missing_ops = set(task.operators) - set(vocab.operators)
        if missing_ops:
            raise ConfigError(f"task operators {sorted(missing_ops)} are not in the vocabulary")
        model = Seq2Seq(model_cfg)
    except (ConfigError, VocabError, TypeError) as e:
        raise CheckpointError(f"{config_path}: {e}") from None
    if "config_sha256" in meta and settings_sha256(meta) != meta["config_sha256"]:
        raise CheckpointError(f"{config_path}: its vocab, task or model settings were changed after the "
                              f"model was saved (they no longer match config_sha256); the weights only "
                              f"answer correctly under the settings they were trained with")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: not found")
    # The digest ties the weights to this config: a torn write or a swapped file is caught here.
    if _sha256(weights) != meta["weights_sha256"]:
        raise CheckpointError(f"{weights}: contents do not match the sha256 recorded in {config_path.name} "
                              f"(corrupted, truncated or replaced)")
    try:
        with safe_open(weights, framework="pt") as f:
            dtypes = {f.get_slice(name).get_dtype() for name in f.keys()}
        if dtypes != {"F32"}:
            raise ValueError(f"weights must all be float32 (F32), found {sorted(dtypes)}")
        load_model(model, weights, strict=True)
    except (SafetensorError, RuntimeError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:3] if line.strip())
        raise CheckpointError(f"{weights}: not valid weights for its config.json: {first}"
                              + (f" {detail}" if detail else "")) from None
    bad = [name for name, t in model.named_parameters() if not torch.isfinite(t).all()]  # shared ones once
    if bad:
        raise CheckpointError(f"{weights}: NaN or infinite values in {', '.join(bad[:3])}"
                              f"{' ...' if len(bad) > 3 else ''}; a model whose training diverged cannot answer")
    model.eval()
    return Checkpoint(model, task, train_cfg, vocab, meta["metrics"])
