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


class _TorchCell(nn.Module):
    """Adapts nn.RNNCell / nn.GRUCell / nn.LSTMCell to one job: (x_t, state) -> state."""

    def __init__(self, kind: type[nn.Module], input_size: int, hidden: int):
        super().__init__()
        self.cell = kind(input_size, hidden)
        self.n_state = 2 if kind is nn.LSTMCell else 1
        if kind is nn.LSTMCell:
            # A forget-gate bias of 1 lets memory flow through early training.
            with torch.no_grad():
                self.cell.bias_ih[hidden : 2 * hidden].fill_(1.0)
                self.cell.bias_hh[hidden : 2 * hidden].zero_()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if self.n_state == 2:
            return self.cell(x, state)
        return (self.cell(x, state[0]),)


class LayerNormLSTMCell(nn.Module):
    """LSTM with each gate's pre-activation and the cell state layer-normalised (Ba et al., 2016).

    x: (B, in), state (h, c) each (B, H) -> (h', c').
    """

    n_state = 2

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.linear = nn.Linear(input_size + hidden, 4 * hidden, bias=False)
        self.gate_weight = nn.Parameter(torch.ones(4, hidden))
        self.gate_bias = nn.Parameter(torch.zeros(4, hidden))
        with torch.no_grad():
            self.gate_bias[1].fill_(1.0)  # forget gate, as in _TorchCell
        self.cell_norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        h, c = state
        gates = self.linear(torch.cat([x, h], dim=1)).view(-1, 4, self.hidden)  # (B, 4, H)
        gates = F.layer_norm(gates, (self.hidden,)) * self.gate_weight + self.gate_bias
        i, f, g, o = gates.unbind(1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.cell_norm(c))
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

    def step(self, x: torch.Tensor, state: State, masks: list[torch.Tensor] | None = None) -> State:
        """x: (B, in) -> new state. masks, one (B, H) per layer, multiply each incoming h."""
        new = []
        for layer, (cell, s) in enumerate(zip(self.cells, state)):
            if masks is not None:
                s = (s[0] * masks[layer], *s[1:])
            s = cell(x, s)
            new.append(s)
            x = s[0]
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
        valid = torch.arange(S)[None, :] < src_len[:, None]  # (B, S)
        x = self.embedding(self.reading_order(src, src_len))  # (B, S, E)
        masks = self.dropout_masks(B)
        state = self.stack.zero_state(B)
        outputs = []
        for t in range(S):
            new = self.stack.step(x[:, t], state, masks)
            keep = valid[:, t, None]  # (B, 1): past the length, the old state stands
            state = [tuple(torch.where(keep, n, o) for n, o in zip(ns, os)) for ns, os in zip(new, state)]
            outputs.append(torch.stack([s[0] for s in state]) * keep)  # (L, B, H)
        return torch.stack(outputs, dim=2), state  # (L, B, S, H)


class Decoder(nn.Module):
    """Emits the answer one symbol at a time from the encoder's state.

    step: tok (B,) long, state -> logits (B, V), state.
    """

    def __init__(self, cfg: ModelConfig, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.stack = CellStack(cfg, embedding.embedding_dim)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def step(self, tok: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        state = self.stack.step(self.embedding(tok), state)
        return self.head(state[-1][0]), state


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
        logits = []
        for t in range(tgt_in.shape[1]):
            step_logits, state = self.decoder.step(tgt_in[:, t], state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # (B, T, V)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
