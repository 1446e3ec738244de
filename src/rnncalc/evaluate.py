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
        d["teacher_forced_accuracy"] = (None if self.teacher_forced_wrong is None or not self.n
                                        else 1.0 - self.teacher_forced_wrong / self.n)
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


def _breakdown(keys: torch.Tensor, wrong: torch.Tensor) -> dict[str, list[int]]:
    """keys (N,) small non-negative ints, wrong (N,) bool -> {key: [n, wrong]} for each key present."""
    n = torch.bincount(keys)
    bad = torch.bincount(keys, weights=wrong.double(), minlength=len(n)).long()
    return {str(k): [int(n[k]), int(bad[k])] for k in n.nonzero().squeeze(1).tolist()}


def _chunks(operands: torch.Tensor, task: TaskConfig, vocab: Vocab, batch_size: int):
    """(operands, Batch) slices of batch_size rows. Encoding works on many slices at a
    time: per slice, its fixed cost of a few dozen tensor ops would add about a second
    to the 10^6-problem space."""
    block = 64 * batch_size
    for lo in range(0, len(operands), block):
        ops = operands[lo : lo + block]
        batch = make_batch(ops, task, vocab)
        for i in range(0, len(ops), batch_size):
            yield ops[i : i + batch_size], batch[i : i + batch_size]


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
    wrong_parts = []
    bar = tqdm(total=len(operands), desc="evaluating", unit="expr", unit_scale=True, disable=not progress,
               leave=False)
    for ops, batch in _chunks(operands, task, vocab, batch_size):
        pred = greedy(model, batch.src, batch.src_len, task.tgt_len, vocab.start_id, vocab.end_id)
        wrong = ~free_running_correct(pred, batch)
        wrong_parts.append(wrong)
        for i in wrong.nonzero().squeeze(1)[: max_failures - len(m.failures)].tolist():
            a, b = ops[i].tolist()
            m.failures.append({"expr": f"{a}+{b}", "truth": str(a + b), "pred": vocab.decode(pred[i])})
        if teacher_forced:
            logits = model(batch.src, batch.src_len, batch.tgt_in)
            tf_wrong = int((~teacher_forced_correct(logits, batch)).sum())
            m.teacher_forced_wrong = (m.teacher_forced_wrong or 0) + tf_wrong
        bar.update(len(ops))
    bar.close()
    wrong = torch.cat(wrong_parts) if wrong_parts else torch.zeros(0, dtype=torch.bool)
    m.n, m.wrong = len(operands), int(wrong.sum())
    if m.n:
        m.by_length = _breakdown(num_digits(operands[:, 0] + operands[:, 1]), wrong)
        m.by_carries = _breakdown(count_carries(operands[:, 0], operands[:, 1]), wrong)
    m.seconds = time.perf_counter() - start
    return m
