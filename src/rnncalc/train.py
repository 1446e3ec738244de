"""Training: teacher forcing, a loss masked by the answer's length, real shuffled epochs.

`train()` reads top to bottom: seed, data, model, optimiser, then epochs of
forward, masked loss, backward, clip, step; after each epoch it evaluates
(teacher-forced and free-running), logs one line, keeps the best checkpoint and
saves everything needed to resume the run bit for bit (see `runstate.py`).
"""

from __future__ import annotations

import math
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from . import checkpoint, runstate
from .config import ConfigError, ModelConfig, TaskConfig, TrainConfig
from .data import Batch, draw_training, epoch_order, length_mask, make_batch, make_splits
from .evaluate import evaluate, teacher_forced_correct
from .model import Seq2Seq
from .vocab import Vocab


class TrainingError(RuntimeError):
    """Training cannot go on (for example the loss stopped being finite)."""


def masked_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over the real target steps. logits (B, T, V) -> scalar.

    END and padding share id 0, so the mask comes from tgt_len, not ignore_index:
    the END right after the digits is learned, the padding after it is not.
    """
    per_step = F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, reduction="none")  # (B, T)
    mask = length_mask(batch.tgt_len, batch.tgt_out.shape[1])
    return (per_step * mask).sum() / mask.sum()


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate for optimiser step `step` of `total`: constant, or cosine down to lr * min_lr_ratio."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    low = cfg.lr * cfg.min_lr_ratio
    return low + (cfg.lr - low) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


@dataclass
class TrainResult:
    model: Seq2Seq
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    seconds: float = 0.0


def train(task: TaskConfig, model_cfg: ModelConfig, cfg: TrainConfig, *, out: str | Path | None = None,
          resume: bool = False, logdir: str | Path | None = None, log: Callable[[str], None] = print,
          progress: bool | None = None, on_epoch: Callable[[Seq2Seq, dict], None] | None = None) -> TrainResult:
    """Train a model; with `out`, save `out/best` (lowest free-running test error), `out/final`,
    and after every epoch the state to continue from (`resume=True` continues it).

    on_epoch(model, row) runs after each epoch's evaluation with the kept model (the
    weights' moving average when cfg.ema_decay > 0); its time is left out of the
    reported training seconds. `progress` shows tqdm bars; by default only when stderr is a
    terminal, so that logs do not fill with them.
    """
    vocab = Vocab()
    if model_cfg.vocab_size != len(vocab):
        raise ConfigError(f"ModelConfig.vocab_size is {model_cfg.vocab_size}; the vocabulary has {len(vocab)}")
    torch.manual_seed(cfg.seed)
    data_rng = torch.Generator().manual_seed(cfg.seed)
    splits = make_splits(task, cfg, data_rng)
    data = None if splits.train is None else make_batch(splits.train, task, vocab)

    model = Seq2Seq(model_cfg)
    # fused: one kernel for all parameters; at these sizes the per-tensor loop costs more than the math.
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2), fused=True)
    # With ema_decay, what the run evaluates and saves is a moving average of the trained
    # weights: it irons out the step-to-step noise of a high learning rate.
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=False)
                if cfg.ema_decay else None)
    kept = model if averaged is None else averaged.module  # the model evaluated and saved
    steps_per_epoch = -(-cfg.train_size // cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    result = TrainResult(kept)

    def snapshot() -> checkpoint.Checkpoint:
        """The kept model as it stands, with the run's configs and log so far."""
        return checkpoint.Checkpoint(kept, task, cfg, vocab, {"history": result.history, "best": result.best})

    first_epoch = 1
    if resume:
        state = runstate.load(Path(out), model, opt, data_rng, averaged)
        result.history, result.best = state["history"], state["best"]
        first_epoch = state["epoch"] + 1
        log(f"resuming {out} after epoch {state['epoch']}")
    writer = _tensorboard(logdir, model, task, vocab, purge_step=first_epoch)

    start = time.perf_counter() - (result.history[-1]["seconds"] if result.history else 0.0)
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            model.train()
            loss_sum, tf_wrong = 0.0, 0
            if cfg.resample:
                data = make_batch(draw_training(task, cfg, splits.held_out, data_rng), task, vocab)
            order = epoch_order(len(data), data_rng)
            bar = tqdm(order.split(cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                       disable=None if progress is None else not progress, leave=False)  # None: if a tty
            for i, idx in enumerate(bar):
                for group in opt.param_groups:
                    group["lr"] = lr_at((epoch - 1) * steps_per_epoch + i, total_steps, cfg)
                batch = data[idx]
                logits = model(batch.src, batch.src_len, batch.tgt_in)  # (B, T, V)
                loss = masked_loss(logits, batch)
                if not torch.isfinite(loss):
                    saved = f"; the last good state is in {out}" if out is not None and epoch > 1 else ""
                    raise TrainingError(f"loss became {loss.item()} at epoch {epoch}, step {i + 1}{saved}. "
                                        f"Try a lower --lr (now {cfg.lr}).")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip, foreach=True)
                opt.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                loss_sum += loss.item() * len(idx)
                tf_wrong += int((~teacher_forced_correct(logits.detach(), batch)).sum())

            test = evaluate(kept, splits.test, task, vocab, teacher_forced=True, max_failures=5)
            row = {
                "epoch": epoch,
                "loss": loss_sum / len(data),
                "train_err_tf": tf_wrong / len(data),
                "test_err_tf": test.teacher_forced_wrong / test.n,
                "test_err": test.error,
                "lr": opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
            result.history.append(row)
            log(f"epoch {epoch:3d}  loss {row['loss']:.4f}  train err (teacher-forced) {row['train_err_tf']:.4f}  "
                f"test err: teacher-forced {row['test_err_tf']:.4f}, free-running {row['test_err']:.4f}  "
                f"[{row['seconds']:.1f}s]")
            if writer:
                for key in ("loss", "train_err_tf", "test_err_tf", "test_err", "lr"):
                    writer.add_scalar(key, row[key], epoch)
                writer.flush()
            is_best = result.best is None or row["test_err"] < result.best["test_err"]
            if is_best:
                result.best = row
            if out is not None:
                if is_best:
                    checkpoint.save(Path(out) / "best", snapshot())
                runstate.save(Path(out), snapshot(), model, opt, data_rng, averaged)
            if on_epoch is not None:
                paused = time.perf_counter()
                on_epoch(kept, row)
                start += time.perf_counter() - paused
            if cfg.stop_at_zero_error and test.wrong == 0:
                log(f"free-running test error is 0 after epoch {epoch}: stopping")
                break
    except KeyboardInterrupt:
        # Keep what the unfinished epoch learned for inspection; resuming restarts that epoch.
        if out is not None:
            checkpoint.save(Path(out) / "interrupted", snapshot())
        raise

    result.seconds = time.perf_counter() - start
    if out is not None:
        shutil.rmtree(Path(out) / "interrupted", ignore_errors=True)  # the run finished after all
        checkpoint.save(Path(out) / "final", snapshot())
    if writer:
        last = result.history[-1] if result.history else {}
        writer.add_hparams({**{f"model/{k}": v for k, v in model_cfg.to_dict().items()},
                            **{f"train/{k}": v for k, v in cfg.to_dict().items()}},
                           {f"hparam/{k}": last[k] for k in ("loss", "test_err", "test_err_tf") if k in last},
                           run_name=".")
        writer.close()
    return result


def _tensorboard(logdir, model: Seq2Seq, task: TaskConfig, vocab: Vocab, purge_step: int):
    """A SummaryWriter with the model graph, or None without a logdir."""
    if logdir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir), purge_step=purge_step if purge_step > 1 else None)
    example = make_batch(torch.tensor([[155, 339]]), task, vocab)
    with warnings.catch_warnings():  # add_graph traces with torch.jit, which warns that it is deprecated
        warnings.simplefilter("ignore")
        writer.add_graph(model.eval(), (example.src, example.src_len, example.tgt_in))
    return writer
