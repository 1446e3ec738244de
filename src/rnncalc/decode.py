"""Free-running decoding: how the calculator is used, with no answer to lean on.

Greedy decoding as in the original notebook (SPEC section 3): encode once, feed
START, take the arg-max symbol, feed it back, stop at END or after T steps.
"""

from __future__ import annotations

import math

import torch

from .model import Encoder, Seq2Seq, State


def lexicographic_order(rows: torch.Tensor, base: int) -> torch.Tensor:
    """rows (B, S) of ids in 0..base-1 -> the permutation (B,) that sorts them lexicographically.

    Column groups are packed into int64 keys as base-`base` numbers and sorted stably from
    the last group to the first: [[2, 1], [1, 5], [1, 2]] -> [2, 1, 0].
    """
    per_key = max(1, int(62 // math.log2(base)))  # columns per key: base ** per_key < 2 ** 62
    order = torch.arange(rows.shape[0])
    for lo in reversed(range(0, rows.shape[1], per_key)):
        cols = rows[order, lo : lo + per_key]  # (B, <=per_key)
        key = (cols * base ** torch.arange(cols.shape[1] - 1, -1, -1)).sum(dim=1)
        order = order[torch.sort(key, stable=True).indices]
    return order


@torch.inference_mode()
def encode_shared(encoder: Encoder, src: torch.Tensor, src_len: torch.Tensor) -> State:
    """The encoder's final state for src (B, S), src_len (B,), computing each distinct
    input prefix once. Equal to `encoder(src, src_len)[1]` in eval mode.

    Expressions share prefixes: read as '933+551', all thousand '...+551' share
    '933+'. Sorted lexicographically, rows that share a prefix are neighbours, so each
    step finds its distinct prefixes by comparing each row with the one before and runs
    the cells on those alone: a batch holding every pair for a few values of the
    first-read operand costs about one cell step per row instead of seven.
    """
    assert not encoder.training, "prefix sharing is for inference: dropout masks are per row"
    read = encoder.reading_order(src, src_len)
    B, S = read.shape
    order = lexicographic_order(read, encoder.embedding.num_embeddings)
    read, length = read[order], src_len[order]
    same = torch.zeros(B, S, dtype=torch.bool)  # row i's prefix up to step t equals row i-1's
    same[1:] = (read[1:] == read[:-1]).cummin(dim=1).values
    new = (torch.arange(S)[None, :] < length[:, None]) & ~same  # (B, S): first row of each distinct prefix
    node = new.cumsum(dim=0) - 1  # (B, S): each row's prefix as a row of step t's table
    table = encoder.stack.zero_state(1)  # one row: the empty prefix
    tables = []
    for t in range(S):
        rows = new[:, t].nonzero().squeeze(1)
        if len(rows) == 0:
            break
        parents = node[rows, t - 1] if t else torch.zeros_like(rows)
        table = encoder.stack.step(encoder.stack.read(read[rows, t], encoder.embedding),
                                   [tuple(x[parents] for x in layer) for layer in table])
        tables.append(table)
    # Each row's final state is its last step's node, in all steps' tables stacked.
    sizes = torch.tensor([len(tb[0][0]) for tb in tables])
    last = length - 1
    pick = torch.empty(B, dtype=torch.long)
    pick[order] = (sizes.cumsum(0) - sizes)[last] + node[torch.arange(B), last]
    return [tuple(torch.cat(steps)[pick] for steps in zip(*layers)) for layers in zip(*tables)]


@torch.inference_mode()
def greedy(model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, max_len: int, start_id: int,
           end_id: int = 0) -> torch.Tensor:
    """src (B, S), src_len (B,) long -> ids (B, <=max_len) long.

    Each row is cut at its own first END: after it the row holds END only. The loop
    stops early once every row has ended; it has no per-row Python work.
    """
    model.eval()
    state = encode_shared(model.encoder, src, src_len)
    tok = torch.full((src.shape[0],), start_id, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    out = []
    for _ in range(max_len):
        logits, state = model.decoder.step(tok, state)
        tok = logits.argmax(dim=1).masked_fill(done, end_id)  # (B,)
        out.append(tok)
        done |= tok == end_id
        if bool(done.all()):
            break
    return torch.stack(out, dim=1)
