"""Accuracy as the calculator is used: free-running greedy decoding, exact match.

A problem counts as right only if every answer digit and then END come out
right. Results come back as a JSON-ready `Metrics`, broken down by result
length and by number of carries, with a few failures to look at.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from .config import TaskConfig
from .data import Batch, count_carries, length_mask, make_batch, num_digits
from .decode import greedy
from .model import Seq2Seq
from .vocab import Vocab


@dataclass
class Metrics:
    """Exact-match results over `n` problems; `by_length`/`by_carries` map a key to [n, wrong]."""

    n: int = 0
    wrong: int = 0
    by_length: dict[str, list[int]] = field(default_factory=dict)
    by_carries: dict[str, list[int]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    teacher_forced_wrong: int | None = None
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return 1.0 - self.wrong / self.n if self.n else 0.0

    @property
    def error(self) -> float:
        return self.wrong / self.n if self.n else 0.0

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(accuracy=self.accuracy, per_second=self.per_second)
        if self.teacher_forced_wrong is not None:
            d["teacher_forced_accuracy"] = 1.0 - self.teacher_forced_wrong / self.n
        return d


def free_running_correct(pred: torch.Tensor, batch: Batch) -> torch.Tensor:
    """pred (B, <=T) ids from `greedy` -> (B,) bool, True where digits and END all match.

    Greedy rows hold END after their first END, as tgt_out does past tgt_len, so
    whole-row equality is exactly "right digits, then END".
    """
    padded = torch.zeros_like(batch.tgt_out)
    padded[:, : pred.shape[1]] = pred
    return (padded == batch.tgt_out).all(dim=1)


def teacher_forced_correct(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """logits (B, T, V) -> (B,) bool: every arg-max up to tgt_len right, given the true prefix."""
    mask = length_mask(batch.tgt_len, batch.tgt_out.shape[1]).bool()
    return ((logits.argmax(-1) == batch.tgt_out) | ~mask).all(dim=1)


def _tally(table: dict[str, list[int]], keys: torch.Tensor, wrong: torch.Tensor) -> None:
    for k in keys.unique().tolist():
        sel = keys == k
        entry = table.setdefault(str(k), [0, 0])
        entry[0] += int(sel.sum())
        entry[1] += int(wrong[sel].sum())


@torch.inference_mode()
def evaluate(model: Seq2Seq, operands: torch.Tensor, task: TaskConfig, vocab: Vocab, *,
             batch_size: int = 2000, teacher_forced: bool = False, max_failures: int = 20,
             progress: bool = False) -> Metrics:
    """Free-running exact match of `model` on operand pairs (N, 2), in chunks of batch_size."""
    model.eval()
    m = Metrics()
    start = time.perf_counter()
    # Rows that share the operand the encoder reads first share prefixes; grouping them
    # into the same chunk lets `greedy` encode each prefix once (see decode.encode_shared).
    first, second = (1, 0) if model.cfg.reverse_input else (0, 1)
    operands = operands[torch.argsort(operands[:, first] * (task.max_operand + 1) + operands[:, second])]
    for lo in tqdm(range(0, len(operands), batch_size), desc="evaluating", unit="batch",
                   disable=not progress, leave=False):
        ops = operands[lo : lo + batch_size]
        batch = make_batch(ops, task, vocab)
        pred = greedy(model, batch.src, batch.src_len, task.tgt_len, vocab.start_id, vocab.end_id)
        wrong = ~free_running_correct(pred, batch)
        m.n += len(ops)
        m.wrong += int(wrong.sum())
        results = ops[:, 0] + ops[:, 1]
        _tally(m.by_length, num_digits(results), wrong)
        _tally(m.by_carries, count_carries(ops[:, 0], ops[:, 1]), wrong)
        for i in wrong.nonzero().squeeze(1)[: max_failures - len(m.failures)].tolist():
            a, b = ops[i].tolist()
            m.failures.append({"expr": f"{a}+{b}", "truth": str(a + b), "pred": vocab.decode(pred[i])})
        if teacher_forced:
            logits = model(batch.src, batch.src_len, batch.tgt_in)
            tf_wrong = int((~teacher_forced_correct(logits, batch)).sum())
            m.teacher_forced_wrong = (m.teacher_forced_wrong or 0) + tf_wrong
    m.seconds = time.perf_counter() - start
    return m
