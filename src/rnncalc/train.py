"""Training: teacher forcing, a loss masked by the answer's length, real shuffled epochs.

`train()` reads top to bottom: seed, data, model, optimiser, then epochs of
forward, masked loss, backward, clip, step; after each epoch it evaluates
(teacher-forced and free-running), logs one line and keeps the best checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import checkpoint
from .config import ModelConfig, TaskConfig, TrainConfig
from .data import Batch, epoch_order, length_mask, make_batch, make_splits
from .evaluate import evaluate, teacher_forced_correct
from .model import Seq2Seq
from .vocab import Vocab


def masked_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over the real target steps. logits (B, T, V) -> scalar.

    END and padding share id 0, so the mask comes from tgt_len, not ignore_index:
    the END right after the digits is learned, the padding after it is not.
    """
    per_step = F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, reduction="none")  # (B, T)
    mask = length_mask(batch.tgt_len, batch.tgt_out.shape[1])
    return (per_step * mask).sum() / mask.sum()


@dataclass
class TrainResult:
    model: Seq2Seq
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    seconds: float = 0.0


def train(task: TaskConfig, model_cfg: ModelConfig, cfg: TrainConfig, *, out: str | Path | None = None,
          logdir: str | Path | None = None, log: Callable[[str], None] = print,
          progress: bool = True, on_epoch: Callable[[Seq2Seq, dict], None] | None = None) -> TrainResult:
    """Train a model; with `out`, save `out/best` (lowest free-running test error) and `out/final`.

    on_epoch(model, row) runs after each epoch's evaluation (benchmarks use it); its
    time is left out of the reported training seconds.
    """
    torch.manual_seed(cfg.seed)
    vocab = Vocab()
    train_ops, test_ops = make_splits(task, cfg)
    data = make_batch(train_ops, task, vocab)
    order_rng = torch.Generator().manual_seed(cfg.seed + 1)

    model = Seq2Seq(model_cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps = cfg.epochs * -(-len(data) // cfg.batch_size)
    if cfg.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=cfg.lr * cfg.min_lr_ratio)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    writer = _tensorboard(logdir)

    result = TrainResult(model)
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        loss_sum, tf_wrong = 0.0, 0
        order = epoch_order(len(data), order_rng)
        bar = tqdm(order.split(cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                   disable=not progress, leave=False)
        for idx in bar:
            batch = data[idx]
            logits = model(batch.src, batch.src_len, batch.tgt_in)  # (B, T, V)
            loss = masked_loss(logits, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            tf_wrong += int((~teacher_forced_correct(logits.detach(), batch)).sum())

        test = evaluate(model, test_ops, task, vocab, teacher_forced=True, max_failures=5)
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
        is_best = result.best is None or row["test_err"] < result.best["test_err"]
        if is_best:
            result.best = row
        if out is not None:
            ckpt = checkpoint.Checkpoint(model, task, cfg, vocab, {"history": result.history, "best": result.best})
            if is_best:
                checkpoint.save(Path(out) / "best", ckpt)
        if on_epoch is not None:
            paused = time.perf_counter()
            on_epoch(model, row)
            start += time.perf_counter() - paused
        if cfg.stop_at_zero_error and test.wrong == 0:
            log(f"free-running test error is 0 after epoch {epoch}: stopping")
            break

    result.seconds = time.perf_counter() - start
    if out is not None:
        checkpoint.save(Path(out) / "final", checkpoint.Checkpoint(
            model, task, cfg, vocab, {"history": result.history, "best": result.best}))
    if writer:
        writer.close()
    return result


def _tensorboard(logdir):
    if logdir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir))
