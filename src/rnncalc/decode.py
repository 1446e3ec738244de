"""Free-running decoding: how the calculator is used, with no answer to lean on.

Greedy decoding as in the original notebook (SPEC section 3): encode once, feed
START, take the arg-max symbol, feed it back, stop at END or after T steps.
"""

from __future__ import annotations

import torch

from .model import Encoder, Seq2Seq, State


@torch.inference_mode()
def encode_shared(encoder: Encoder, src: torch.Tensor, src_len: torch.Tensor) -> State:
    """The encoder's final state for src (B, S), src_len (B,), computing each distinct
    input prefix once. Equal to `encoder(src, src_len)[1]` in eval mode.

    Expressions share prefixes: read as '933+551', all thousand '...+551' share
    '933+'. Each step runs the cells only on the distinct (prefix, symbol) pairs
    present, so a batch holding every pair for a few values of the first-read
    operand costs about one step per row instead of seven.
    """
    assert not encoder.training, "prefix sharing is for inference: dropout masks are per row"
    src = encoder.reading_order(src, src_len)
    B, S = src.shape
    V = encoder.embedding.num_embeddings
    table = encoder.stack.zero_state(1)  # states of the distinct prefixes so far; row 0 = empty prefix
    node = torch.zeros(B, dtype=torch.long)  # each row's prefix: a row of `table`
    final = [tuple(torch.zeros(B, x.shape[1]) for x in layer) for layer in table]
    for t in range(S):
        active = (src_len > t).nonzero().squeeze(1)
        if len(active) == 0:
            break
        keys, node_of = torch.unique(node[active] * V + src[active, t], return_inverse=True)
        parents = keys // V
        table = encoder.stack.step(encoder.stack.read(keys % V, encoder.embedding),
                                   [tuple(x[parents] for x in s) for s in table])
        node[active] = node_of
        ending = active[src_len[active] == t + 1]
        for out, layer in zip(final, table):
            for o, x in zip(out, layer):
                o[ending] = x[node[ending]]
    return final


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
