"""The encoder-decoder network: recurrent cells, the encoder, the decoder and Seq2Seq.

Shapes: B batch, S source steps, T target steps, E embedding, H hidden, L layers,
V vocabulary. A recurrent state is a list of L tuples, one per layer, holding (h,)
for rnn/gru or (h, c) for lstm/lnlstm, each (B, H). The encoder's final state is
the decoder's initial state and the only path from question to answer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ConfigError, ModelConfig

State = list[tuple[torch.Tensor, ...]]


def tanh(x: torch.Tensor) -> torch.Tensor:
    """torch.tanh, computed at inference as 2 sigmoid(2x) - 1: the same function (within
    3e-7 in float32), which this build of torch runs several times faster on CPU
    (benchmarks/RESULTS.md). Training keeps torch.tanh, whose backward is cheaper."""
    if torch.is_inference_mode_enabled():
        return torch.sigmoid(x * 2).mul_(2).sub_(1)
    return torch.tanh(x)


class _TorchCell(nn.Module):
    """nn.RNNCell / nn.GRUCell / nn.LSTMCell's parameters (same names and layout), with the
    step split in two so that the input half can be computed ahead of the loop:

        project(x): (..., in) -> (..., G)   the input's share of the pre-activations
        forward(xg, state) -> state         one step given project(x); equals torch's cell(x, state)

    G is 4H for lstm, 3H for gru, H for rnn. Since project is linear in x, the encoder and
    decoder push their whole embedding table through it once per forward (see CellStack.read).
    """

    def __init__(self, kind: type[nn.Module], input_size: int, hidden: int):
        super().__init__()
        self.cell = kind(input_size, hidden)
        self.kind = kind
        self.n_state = 2 if kind is nn.LSTMCell else 1
        if kind is nn.LSTMCell:
            # A forget-gate bias of 1 lets memory flow through early training.
            with torch.no_grad():
                self.cell.bias_ih[hidden : 2 * hidden].fill_(1.0)
                self.cell.bias_hh[hidden : 2 * hidden].zero_()

    def project(self, x: torch.Tensor) -> torch.Tensor:
        cell = self.cell
        # GRU keeps b_hh apart: it sits inside the reset gate's product.
        bias = cell.bias_ih if self.kind is nn.GRUCell else cell.bias_ih + cell.bias_hh
        return F.linear(x, cell.weight_ih, bias)

    def forward(self, xg: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        cell, h = self.cell, state[0]
        if self.kind is nn.LSTMCell:
            # chunk, not slicing: its backward is one cat instead of a zero-filled copy per gate.
            i, f, g, o = torch.addmm(xg, h, cell.weight_hh.t()).chunk(4, dim=1)  # each (B, H)
            c = torch.addcmul(f.sigmoid() * state[1], i.sigmoid(), tanh(g))
            return o.sigmoid() * tanh(c), c
        if self.kind is nn.GRUCell:
            x_r, x_z, x_n = xg.chunk(3, dim=1)
            h_r, h_z, h_n = torch.addmm(cell.bias_hh, h, cell.weight_hh.t()).chunk(3, dim=1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            n = tanh(torch.addcmul(x_n, r, h_n))
            return (torch.addcmul(n, z, h - n),)  # (1 - z) * n + z * h
        return (tanh(torch.addmm(xg, h, cell.weight_hh.t())),)


class LayerNormLSTMCell(nn.Module):
    """LSTM with each gate's pre-activation and the cell state layer-normalised (Ba et al., 2016).

    project(x): (..., in) -> (..., 4H); forward(xg, (h, c)) -> (h', c'), each (B, H).
    """

    n_state = 2

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.input_size, self.hidden = input_size, hidden
        self.linear = nn.Linear(input_size + hidden, 4 * hidden, bias=False)  # [W_x | W_h]
        self.gate_weight = nn.Parameter(torch.ones(4, hidden))
        self.gate_bias = nn.Parameter(torch.zeros(4, hidden))
        with torch.no_grad():
            self.gate_bias[1].fill_(1.0)  # forget gate, as in _TorchCell
        self.cell_norm = nn.LayerNorm(hidden)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.linear.weight[:, : self.input_size])

    def forward(self, xg: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        h, c = state
        gates = torch.addmm(xg, h, self.linear.weight[:, self.input_size :].t()).view(-1, 4, self.hidden)
        gates = F.layer_norm(gates, (self.hidden,)) * self.gate_weight + self.gate_bias  # (B, 4, H)
        i, f, g, o = gates.unbind(1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * tanh(g)
        h = torch.sigmoid(o) * tanh(self.cell_norm(c))
        return h, c


CELLS = {
    "rnn": lambda i, h: _TorchCell(nn.RNNCell, i, h),
    "gru": lambda i, h: _TorchCell(nn.GRUCell, i, h),
    "lstm": lambda i, h: _TorchCell(nn.LSTMCell, i, h),
    "lnlstm": LayerNormLSTMCell,
}


def make_cell(name: str, input_size: int, hidden: int) -> nn.Module:
    try:
        return CELLS[name](input_size, hidden)
    except KeyError:
        raise ConfigError(f"unknown cell {name!r}; choose from {sorted(CELLS)}") from None


class CellStack(nn.Module):
    """L cells stacked: layer l's new h is layer l+1's input at the same step."""

    def __init__(self, cfg: ModelConfig, input_size: int):
        super().__init__()
        sizes = [input_size] + [cfg.hidden] * (cfg.layers - 1)
        self.cells = nn.ModuleList(make_cell(cfg.cell, size, cfg.hidden) for size in sizes)
        self.hidden = cfg.hidden

    def zero_state(self, batch: int) -> State:
        z = torch.zeros(batch, self.hidden)
        return [(z,) * cell.n_state for cell in self.cells]

    def read(self, tokens: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        """tokens (...) long -> layer 0's input pre-activations (..., G).

        Same as cells[0].project(embedding(tokens)), but the V-row embedding table goes
        through the input weights once and each token is then a row lookup.
        """
        return F.embedding(tokens, self.cells[0].project(embedding.weight))

    def step(self, xg: torch.Tensor, state: State, masks: list[torch.Tensor] | None = None) -> State:
        """xg: (B, G) from `read` -> new state. masks, one (B, H) per layer, multiply each incoming h."""
        new = []
        for layer, (cell, s) in enumerate(zip(self.cells, state)):
            if masks is not None:
                s = (s[0] * masks[layer], *s[1:])
            if layer > 0:
                xg = cell.project(new[-1][0])
            new.append(cell(xg, s))
        return new


def stack_h(state: State) -> torch.Tensor:
    """A state's hidden vectors as one tensor (L, B, H)."""
    return torch.stack([s[0] for s in state])


class Encoder(nn.Module):
    """Reads the expression; padding never changes the state it hands on.

    src: (B, S) long, src_len: (B,) long -> outputs (L, B, S, H) (zero past each length), state.
    """

    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.stack = CellStack(cfg, embedding.embedding_dim)
        self.dropout = cfg.dropout
        self.reverse = cfg.reverse_input

    def dropout_masks(self, batch: int) -> list[torch.Tensor] | None:
        """Variational dropout: one (B, H) mask per layer, reused at every time step."""
        if not (self.training and self.dropout > 0):
            return None
        keep = 1.0 - self.dropout
        return [torch.bernoulli(torch.full((batch, self.stack.hidden), keep)) / keep for _ in self.stack.cells]

    def reading_order(self, src: torch.Tensor, src_len: torch.Tensor) -> torch.Tensor:
        """src (B, S) as the encoder reads it: with reverse_input, '155+339' -> '933+551',
        each row reversed within its own length so that padding stays last."""
        if not self.reverse:
            return src
        pos = torch.arange(src.shape[1])[None, :]  # (1, S)
        return src.gather(1, torch.where(pos < src_len[:, None], src_len[:, None] - 1 - pos, pos))

    def forward(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, State]:
        B, S = src.shape
        xg = self.stack.read(self.reading_order(src, src_len), self.embedding)  # (B, S, G)
        masks = self.dropout_masks(B)
        state = self.stack.zero_state(B)
        steps = []
        for x_t in xg.unbind(1):  # unbind, not xg[:, t]: one backward op instead of S zero-filled copies
            state = self.stack.step(x_t, state, masks)
            steps.append(state)
        # Every row ran all S steps; each keeps the state after its own last symbol, so
        # padding never reaches the decoder (the steps past a row's length are discarded).
        per_step = [[torch.stack(xs, dim=1) for xs in zip(*layer)] for layer in zip(*steps)]  # L x n_state x (B, S, H)
        last = (src_len - 1)[:, None, None].expand(B, 1, self.stack.hidden)  # (B, 1, H)
        state = [tuple(x.gather(1, last).squeeze(1) for x in layer) for layer in per_step]
        valid = torch.arange(S)[None, :, None] < src_len[:, None, None]  # (B, S, 1)
        outputs = torch.stack([layer[0] for layer in per_step]) * valid
        return outputs, state  # (L, B, S, H) zero past each length, state


class Decoder(nn.Module):
    """Emits the answer one symbol at a time from the encoder's state.

    step: tok (B,) long, state -> logits (B, V), state (free-running, one symbol);
    forward: tgt_in (B, T) long, state -> logits (B, T, V) (teacher-forced, all steps).
    """

    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.stack = CellStack(cfg, embedding.embedding_dim)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def step(self, tok: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        state = self.stack.step(self.stack.read(tok, self.embedding), state)
        return self.head(state[-1][0]), state

    def forward(self, tgt_in: torch.Tensor, state: State) -> torch.Tensor:
        """Teacher-forced: every step's input is given. tgt_in (B, T) long -> logits (B, T, V)."""
        tops = []
        for x_t in self.stack.read(tgt_in, self.embedding).unbind(1):  # (B, G) each
            state = self.stack.step(x_t, state)
            tops.append(state[-1][0])
        return self.head(torch.stack(tops, dim=1))  # one matmul for all T steps


class Seq2Seq(nn.Module):
    """Encoder + decoder sharing one symbol embedding (one-hot when cfg.embed == 0)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.embed == 0:
            self.embedding = nn.Embedding.from_pretrained(torch.eye(cfg.vocab_size), freeze=True)
        else:
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.encoder = Encoder(cfg, self.embedding)
        self.decoder = Decoder(cfg, self.embedding)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced: src (B, S), src_len (B,), tgt_in (B, T) long -> logits (B, T, V)."""
        _, state = self.encoder(src, src_len)
        return self.decoder(tgt_in, state)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
