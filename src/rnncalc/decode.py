"""Free-running decoding: how the calculator is used, with no answer to lean on.

Greedy decoding as in the original notebook (SPEC section 3): encode once, feed
START, take the arg-max symbol, feed it back, stop at END or after T steps.
"""

from __future__ import annotations

import torch

from .model import Seq2Seq


@torch.inference_mode()
def greedy(model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, max_len: int, start_id: int,
           end_id: int = 0) -> torch.Tensor:
    """src (B, S), src_len (B,) long -> ids (B, <=max_len) long.

    Each row is cut at its own first END: after it the row holds END only. The loop
    stops early once every row has ended; it has no per-row Python work.
    """
    _, state = model.encoder(src, src_len)
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
