"""The calculator: expression strings in, answer strings out, every answer from the network.

`parse_expression` is the one place that decides what counts as an expression;
the CLI and anything built later call it through `Calculator`. The rules:

- Full-width and half-width forms read as their ASCII selves ('１２＋３' is '12+3') and
  Unicode spaces as spaces. Nothing else is folded: '3²+1' is an error, not 32+1.
- Whitespace around the expression and around the operator is ignored
  ('  155 + 339 '); whitespace inside a number ('1 55+3') is an error.
- Only ASCII digits 0-9 count as digits; other scripts' digits are refused.
- Leading zeros are dropped ('007+5' is '7+5'); a number with more significant
  digits than the model was trained on is refused, never answered.
- The operator must be one the model was trained on ('+' for the shipped one).
"""

from __future__ import annotations

import os
import re
import unicodedata
from importlib import resources
from pathlib import Path

import torch

from . import checkpoint
from .config import TaskConfig
from .data import encode_sources
from .decode import greedy
from .model import Seq2Seq
from .vocab import DIGITS, Vocab


class ExpressionError(ValueError):
    """An expression the model cannot answer; the message says why."""


_SHAPE = re.compile(r"([0-9]+)[ \t]*([^0-9 \t])[ \t]*([0-9]+)")


def parse_expression(text: str, task: TaskConfig) -> tuple[int, str, int]:
    """'155+339' -> (155, '+', 339), or ExpressionError naming what is wrong.

    >>> parse_expression(' 007 + 5 ', TaskConfig())
    (7, '+', 5)
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    shown = _shorten(text)
    expr = "".join(map(_fold, text)).strip(" \t\r\n")
    if not expr:
        raise ExpressionError("empty expression")
    for ch in expr:
        if ch.isdigit() and ch not in DIGITS:
            raise ExpressionError(f"{shown!r}: {ch!r} is not an ASCII digit; use 0-9")
        if not ch.isprintable() and ch not in " \t":
            raise ExpressionError(f"{shown!r}: contains the invisible or control character {ch!r}")
    match = _SHAPE.fullmatch(expr)
    if match is None:
        if re.search(r"[0-9][ \t]+[0-9]", expr):
            raise ExpressionError(f"{shown!r}: a space inside a number")
        for i, ch in enumerate(expr, 1):
            if ch not in DIGITS and ch not in " \t" and ch not in task.operators:
                raise ExpressionError(f"{shown!r}: unexpected character {ch!r} at position {i}")
        raise ExpressionError(f"{shown!r}: expected <number><operator><number> such as 155+339")
    left, op, right = match.groups()
    if op not in task.operators:
        raise ExpressionError(f"{shown!r}: operator {op!r} is not supported "
                              f"(this model knows {', '.join(task.operators)})")
    # Leading zeros go before int(): the digits that matter are few, however long the string.
    left, right = left.lstrip("0") or "0", right.lstrip("0") or "0"
    for number in (left, right):
        if len(number) > task.digits:
            raise ExpressionError(f"{shown!r}: {_shorten(number)} has more than {task.digits} digits, "
                                  f"the most this model was trained on")
    return int(left), op, int(right)


def _fold(ch: str) -> str:
    """'１' -> '1', '＋' -> '+', a no-break or ideographic space -> ' '; any other character is kept.

    Full NFKC would also turn '²' into '2', '₁' into '1' and '⑩' into '10', so that
    '3²+1' would be answered as 32+1.
    """
    if ch.isascii():
        return ch
    if unicodedata.category(ch) == "Zs":
        return " "
    if unicodedata.decomposition(ch).startswith(("<wide>", "<narrow>")):
        return unicodedata.normalize("NFKC", ch)
    return ch


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pretrained_path() -> Path:
    """The checkpoint shipped inside the package."""
    return Path(str(resources.files("rnncalc") / "pretrained"))


class Calculator:
    """Answers expressions with a trained Seq2Seq; Python never does the arithmetic.

    >>> calc = Calculator.load()            # the shipped model
    >>> calc("155+339")
    '494'
    """

    def __init__(self, model: Seq2Seq, task: TaskConfig, vocab: Vocab):
        self.model = model.eval()
        self.task = task
        self.vocab = vocab

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Calculator:
        ckpt = checkpoint.load(pretrained_path() if path is None else path)
        return cls(ckpt.model, ckpt.task, ckpt.vocab)

    def __call__(self, expression: str) -> str:
        return self.calc_many([expression])[0]

    def calc_many(self, expressions: list[str], batch_size: int = 2000) -> list[str]:
        """Answer each expression, batched; raises ExpressionError at the first bad one."""
        if isinstance(expressions, str):
            raise ExpressionError("calc_many takes a list of expressions; use calc(expression) for one")
        return self._answer_batched([parse_expression(e, self.task) for e in expressions], batch_size)

    def try_many(self, expressions: list[str], batch_size: int = 2000) -> list[str | ExpressionError]:
        """Like calc_many, but a bad expression yields its ExpressionError and the rest still run."""
        if isinstance(expressions, str):
            raise ExpressionError("try_many takes a list of expressions; use calc(expression) for one")
        results: list[str | ExpressionError] = []
        good: list[int] = []
        parsed = []
        for e in expressions:
            try:
                parsed.append(parse_expression(e, self.task))
                good.append(len(results))
                results.append("")
            except ExpressionError as err:
                results.append(err)
        for i, answer in zip(good, self._answer_batched(parsed, batch_size)):
            results[i] = answer
        return results

    def _answer_batched(self, parsed: list[tuple[int, str, int]], batch_size: int) -> list[str]:
        answers = []
        for lo in range(0, len(parsed), batch_size):
            answers += self._answer(parsed[lo : lo + batch_size])
        return answers

    def _answer(self, parsed: list[tuple[int, str, int]]) -> list[str]:
        if not parsed:
            return []
        answers = [""] * len(parsed)
        for op in {p[1] for p in parsed}:
            rows = [i for i, p in enumerate(parsed) if p[1] == op]
            operands = torch.tensor([[parsed[i][0], parsed[i][2]] for i in rows], dtype=torch.long)
            src, src_len = encode_sources(operands, op, self.task, self.vocab)
            ids = greedy(self.model, src, src_len, self.task.tgt_len, self.vocab.start_id, self.vocab.end_id)
            for i, row in zip(rows, ids):
                answers[i] = self.vocab.decode(row)
        return answers
