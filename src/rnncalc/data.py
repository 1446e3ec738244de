"""Problems and their tensors: seeded operand sampling, the exhaustive space, batch encoding.

Every function here is pure: randomness comes in as a seed or a `torch.Generator`.
Encoding is vectorised over operands, so the 10^6-problem space encodes in well
under a second. Ground truth is integer arithmetic on operands (never `eval`),
and it is computed only by `make_batch`, which the inference path never calls.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from .config import TaskConfig, TrainConfig
from .vocab import DIGITS, Vocab


@dataclass
class Batch:
    """One batch of problems, batch-first, with the lengths that travel beside the tensors.

    src: (B, S) long, the expression padded with END; src_len: (B,) long.
    tgt_in: (B, T) long, '=' + answer digits; tgt_out: (B, T) long, digits + END;
    tgt_len: (B,) long, digits + 1. Positions at or past tgt_len are padding.
    """

    src: torch.Tensor
    src_len: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_len: torch.Tensor

    def __len__(self) -> int:
        return self.src.shape[0]

    def __getitem__(self, index) -> Batch:
        return Batch(*(getattr(self, f.name)[index] for f in fields(self)))


def num_digits(x: torch.Tensor) -> torch.Tensor:
    """Decimal length of each non-negative integer: [0, 9, 10, 999, 1000] -> [1, 1, 2, 3, 4]."""
    n = torch.ones_like(x)
    power = 10
    while True:
        more = x >= power
        if not bool(more.any()):
            return n
        n += more
        power *= 10


def count_carries(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Carries in the column addition a + b: 999+1 -> 3, 155+339 -> 1, 12+34 -> 0."""
    carry = torch.zeros_like(a)
    count = torch.zeros_like(a)
    while bool(((a > 0) | (b > 0)).any()):
        column = a % 10 + b % 10 + carry
        carry = (column >= 10).long()
        count += carry
        a, b = a // 10, b // 10
    return count


def _write_numbers(out: torch.Tensor, x: torch.Tensor, start: torch.Tensor, digit_ids: torch.Tensor) -> None:
    """Write each x[i] as digit tokens into out[i, start[i] : start[i] + len(x[i])], in place."""
    nd = num_digits(x)[:, None]  # (B, 1)
    k = torch.arange(out.shape[1])[None, :] - start[:, None]  # (B, W) digit index from the left
    inside = (k >= 0) & (k < nd)
    power = 10 ** (nd - 1 - k).clamp(min=0)  # (B, W)
    digit = (x[:, None] // power) % 10
    out[inside] = digit_ids[digit][inside]


def encode_sources(operands: torch.Tensor, op: str, task: TaskConfig, vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Operand pairs (B, 2) long -> src (B, S) long padded with END, src_len (B,) long.

    >>> src, n = encode_sources(torch.tensor([[155, 339]]), "+", TaskConfig(), Vocab())
    >>> src.tolist(), n.tolist()
    ([[2, 6, 6, 11, 4, 4, 10]], [7])
    """
    a, b = operands[:, 0], operands[:, 1]
    digit_ids = torch.tensor([vocab.id(d) for d in DIGITS])
    len_a = num_digits(a)
    src = torch.full((len(a), task.src_len), vocab.end_id, dtype=torch.long)
    _write_numbers(src, a, torch.zeros_like(a), digit_ids)
    src[torch.arange(len(a)), len_a] = vocab.id(op)
    _write_numbers(src, b, len_a + 1, digit_ids)
    return src, len_a + 1 + num_digits(b)


def encode_targets(results: torch.Tensor, task: TaskConfig, vocab: Vocab) -> tuple[torch.Tensor, ...]:
    """Results (B,) long -> tgt_in, tgt_out (B, T) long and tgt_len (B,) long.

    494 -> tgt_in '=494' [12, 5, 10, 5, 0], tgt_out '494 ' [5, 10, 5, 0, 0], tgt_len 4.
    """
    digit_ids = torch.tensor([vocab.id(d) for d in DIGITS])
    n = len(results)
    tgt_in = torch.full((n, task.tgt_len), vocab.end_id, dtype=torch.long)
    tgt_in[:, 0] = vocab.start_id
    _write_numbers(tgt_in, results, torch.ones_like(results), digit_ids)
    tgt_out = torch.full_like(tgt_in, vocab.end_id)
    _write_numbers(tgt_out, results, torch.zeros_like(results), digit_ids)
    return tgt_in, tgt_out, num_digits(results) + 1


def make_batch(operands: torch.Tensor, task: TaskConfig, vocab: Vocab) -> Batch:
    """Training/evaluation examples for a + b, with the truth from integer addition."""
    src, src_len = encode_sources(operands, "+", task, vocab)
    return Batch(src, src_len, *encode_targets(operands[:, 0] + operands[:, 1], task, vocab))


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) lengths -> (B, width) float mask, 1 before each length: 2, 5 -> [1, 1, 0, 0, 0]."""
    return (torch.arange(width)[None, :] < lengths[:, None]).float()


def pair_operands(ids: torch.Tensor, task: TaskConfig) -> torch.Tensor:
    """Pair ids (N,) -> operands (N, 2): id i is (i // 10^d, i % 10^d). Inverse of `pair_ids`."""
    n = task.max_operand + 1
    return torch.stack([ids // n, ids % n], dim=1)


def pair_ids(operands: torch.Tensor, task: TaskConfig) -> torch.Tensor:
    """The id of each pair: (a, b) -> a * 10^d + b, so 155+339 -> 155339 for 3 digits."""
    return operands[:, 0] * (task.max_operand + 1) + operands[:, 1]


MAX_ENUMERATED = 10**8  # pairs: the 4-digit space; 5 digits would be 10^10


def all_operands(task: TaskConfig) -> torch.Tensor:
    """Every pair (a, b) with a, b in 0..max_operand, each exactly once, in id order."""
    if task.num_pairs > MAX_ENUMERATED:
        raise ValueError(f"the {task.digits}-digit task has {task.num_pairs:.0e} expressions, too many to "
                         f"enumerate (at most {MAX_ENUMERATED:.0e}); evaluate a random sample instead")
    return pair_operands(torch.arange(task.num_pairs), task)


def sample_operands(n: int, task: TaskConfig, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """n pairs (n, 2) long.

    'uniform' draws each operand from 0..max, so 3-digit operands dominate (90%).
    'balanced' first draws each operand's length uniformly from 1..digits, so
    short operands are as common as long ones. 'mixed' is half of each, row by row.
    """
    if sampling == "uniform":
        return torch.randint(0, task.max_operand + 1, (n, 2), generator=generator)
    if sampling == "balanced":
        length = torch.randint(1, task.digits + 1, (n, 2), generator=generator)
        low = torch.where(length == 1, 0, 10 ** (length - 1))
        span = 10**length - low
        return low + (torch.rand((n, 2), generator=generator) * span).long().clamp(max=span - 1)
    if sampling == "mixed":
        uniform = sample_operands(n, task, "uniform", generator)
        balanced = sample_operands(n, task, "balanced", generator)
        return torch.where(torch.rand((n, 1), generator=generator) < 0.5, uniform, balanced)
    raise ValueError(f"unknown sampling {sampling!r}; choose from ['balanced', 'mixed', 'uniform']")


def notebook_operands(n: int, seed: int, task: TaskConfig) -> torch.Tensor:
    """The original notebook's stream: numpy's legacy RNG, randint(1000), choice(['+']), randint(1000)."""
    rs = np.random.RandomState(seed)
    high = task.max_operand + 1
    rows = []
    for _ in range(n):
        a = rs.randint(high)
        rs.choice(["+"])
        rows.append((a, rs.randint(high)))
    return torch.tensor(rows, dtype=torch.long)


@dataclass
class Splits:
    """Where a run's problems come from.

    held_out: (num_pairs,) bool, pairs training may never use (all False without a holdout);
    test: (test_size, 2) operands; train: (train_size, 2) operands for a fixed training
    set, or None when each epoch draws afresh through `draw_training`.
    """

    held_out: torch.Tensor
    test: torch.Tensor
    train: torch.Tensor | None


def make_splits(task: TaskConfig, cfg: TrainConfig, generator: torch.Generator) -> Splits:
    """The run's held-out pairs, test set and (unless resampling) training set.

    sampling='notebook' (the 'seed' preset) replays the notebook's own numpy stream:
    60,000 training then 10,000 test examples from seed 37. With cfg.holdout, that
    many pairs of two full-length operands are set aside first; the test set is
    drawn from them only.
    """
    held_out = torch.zeros(task.num_pairs, dtype=torch.bool)
    if cfg.sampling == "notebook":
        ops = notebook_operands(cfg.train_size + cfg.test_size, cfg.seed, task)
        return Splits(held_out, ops[cfg.train_size :], ops[: cfg.train_size])
    if cfg.holdout:
        # Only full-length pairs are held out: shorter ones are too few to spare (there are
        # just 100 sums of two 1-digit numbers), so training sees every one of them.
        ops = all_operands(task)
        full_length = (num_digits(ops) == task.digits).all(dim=1).nonzero().squeeze(1)
        if cfg.holdout > len(full_length):
            raise ValueError(f"holdout {cfg.holdout} exceeds the {len(full_length)} full-length pairs")
        held_out[full_length[torch.randperm(len(full_length), generator=generator)[: cfg.holdout]]] = True
        ids = held_out.nonzero().squeeze(1)
        test = pair_operands(ids[torch.randperm(len(ids), generator=generator)[: cfg.test_size]], task)
    else:
        test = sample_operands(cfg.test_size, task, "uniform", generator)
    train = None if cfg.resample else draw_training(task, cfg, held_out, generator)
    return Splits(held_out, test, train)


def draw_training(task: TaskConfig, cfg: TrainConfig, held_out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """cfg.train_size pairs (N, 2) sampled as cfg.sampling says, none of them held out."""
    parts, have = [], 0
    while have < cfg.train_size:
        ops = sample_operands(cfg.train_size, task, cfg.sampling, generator)
        ops = ops[~held_out[pair_ids(ops, task)]]
        parts.append(ops)
        have += len(ops)
    return torch.cat(parts)[: cfg.train_size]


def epoch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """A fresh shuffle of range(n): every example exactly once per epoch."""
    return torch.randperm(n, generator=generator)
