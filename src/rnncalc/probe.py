"""What the network computes on the way to an answer, as plain tensors for `viz` to draw.

Every function runs the model in eval mode under inference mode, and every answer
returned comes from the network. The one piece of arithmetic here is the true
result `state_map` returns, used only to colour points. Shapes: L layers, H hidden,
V vocabulary; S_len and T_len are one expression's input and output lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .calculator import parse_expression
from .config import TaskConfig
from .data import count_carries, encode_sources
from .decode import encode_shared
from .model import Seq2Seq, stack_h
from .vocab import Vocab


@dataclass
class Activations:
    """The hidden states behind one answer.

    enc: (L, S_len, H), each encoder layer's h after each input symbol, padding absent;
    enc_symbols: the S_len input characters in the order the encoder read them;
    dec: (L, T_len, H), each decoder layer's h at each free-running step;
    dec_symbols: the T_len symbols emitted, ending with END (' ') if it was reached.
    """

    expr: str
    enc: torch.Tensor
    enc_symbols: list[str]
    dec: torch.Tensor
    dec_symbols: list[str]


@dataclass
class StepProbs:
    """probs: (T_len, V), the free-running decoder's softmax at each step; emitted: the
    T_len symbols chosen (each row's arg-max); symbols: the V vocabulary symbols, by id."""

    expr: str
    probs: torch.Tensor
    emitted: list[str]
    symbols: list[str]


@dataclass
class StateMap:
    """xy: (N, 2) encoder final states on their first two principal axes; explained: (2,)
    share of the variance on each axis; operands: (N, 2); results: (N,) the true a + b and
    carries: (N,) the carries in the column addition, both only to colour points by."""

    xy: torch.Tensor
    explained: torch.Tensor
    operands: torch.Tensor
    results: torch.Tensor
    carries: torch.Tensor


@dataclass
class _Run:
    """One expression encoded and decoded greedily, with what each step produced."""

    expr: str
    enc: torch.Tensor  # (L, S_len, H)
    read: list[int]  # (S_len,) input ids in reading order
    dec: torch.Tensor  # (L, T_len, H)
    logits: torch.Tensor  # (T_len, V)
    ids: list[int]  # (T_len,) emitted ids


@torch.inference_mode()
def _free_run(model: Seq2Seq, task: TaskConfig, vocab: Vocab, expr: str) -> _Run:
    """The same steps as `decode.greedy` for one expression, keeping every step's state."""
    model.eval()
    a, op, b = parse_expression(expr, task)  # ExpressionError on bad input
    src, src_len = encode_sources(torch.tensor([[a, b]]), op, task, vocab)  # (1, S), (1,)
    enc_out, state = model.encoder(src, src_len)  # (L, 1, S, H)
    n = int(src_len[0])
    read = model.encoder.reading_order(src, src_len)[0, :n].tolist()
    tok = torch.tensor([vocab.start_id])
    dec, logits, ids = [], [], []
    for _ in range(task.tgt_len):
        step_logits, state = model.decoder.step(tok, state)  # (1, V)
        tok = step_logits.argmax(dim=1)
        dec.append(stack_h(state)[:, 0])  # (L, H)
        logits.append(step_logits[0])
        ids.append(int(tok))
        if ids[-1] == vocab.end_id:
            break
    return _Run(f"{a}{op}{b}", enc_out[:, 0, :n], read, torch.stack(dec, dim=1), torch.stack(logits), ids)


def activations(model: Seq2Seq, task: TaskConfig, vocab: Vocab, expr: str) -> Activations:
    """Encoder and decoder hidden states for `expr`, e.g. '155+339' read as '933+551'."""
    run = _free_run(model, task, vocab, expr)
    return Activations(run.expr, run.enc, [vocab.symbols[i] for i in run.read],
                       run.dec, [vocab.symbols[i] for i in run.ids])


def step_probs(model: Seq2Seq, task: TaskConfig, vocab: Vocab, expr: str) -> StepProbs:
    """The decoder's next-symbol distribution at each step while it answers `expr`."""
    run = _free_run(model, task, vocab, expr)
    return StepProbs(run.expr, run.logits.softmax(dim=-1), [vocab.symbols[i] for i in run.ids],
                     list(vocab.symbols))


@torch.inference_mode()
def final_states(model: Seq2Seq, task: TaskConfig, vocab: Vocab, operands: torch.Tensor) -> torch.Tensor:
    """Operand pairs (N, 2) long -> the encoder's final top-layer h (N, H).

    This vector (with the lower layers, and c for LSTMs) is all the decoder is given.
    """
    if operands.ndim != 2 or operands.shape[1] != 2:
        raise ValueError(f"operands must have shape (N, 2), got {tuple(operands.shape)}")
    if len(operands) and not (0 <= int(operands.min()) and int(operands.max()) <= task.max_operand):
        raise ValueError(f"operands must be in 0..{task.max_operand}")
    model.eval()
    src, src_len = encode_sources(operands, task.operators[0], task, vocab)
    return encode_shared(model.encoder, src, src_len)[-1][0]  # (N, H)


def pca_2d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, D) -> the rows projected on their first two principal axes (N, 2), and the
    share of the total variance each axis holds (2,), largest first.

    Each axis's sign is fixed so that its largest loading is positive: the same states
    always give the same picture. Missing axes (D < 2 or N < 2) come out as zeros.
    """
    if not torch.isfinite(x).all():
        raise ValueError("the states are not finite numbers (a model with NaN or inf weights?)")
    centred = x.double() - x.double().mean(dim=0)  # (N, D)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # s (K,), vh (K, D)
    axes = vh[:2]
    sign = axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)).sign()  # (k, 1)
    axes = axes * torch.where(sign == 0, 1.0, sign)
    xy = torch.zeros(len(x), 2, dtype=torch.float64)
    xy[:, : len(axes)] = centred @ axes.T
    var = s**2
    explained = torch.zeros(2, dtype=torch.float64)
    if var.sum() > 0:
        explained[: len(axes)] = var[:2] / var.sum()
    return xy.float(), explained.float()


def state_map(model: Seq2Seq, task: TaskConfig, vocab: Vocab, operands: torch.Tensor) -> StateMap:
    """Encoder final states of operand pairs (N, 2), reduced to 2-D, with labels to colour by."""
    xy, explained = pca_2d(final_states(model, task, vocab, operands))
    a, b = operands[:, 0], operands[:, 1]
    return StateMap(xy, explained, operands, a + b, count_carries(a, b))
