"""Configuration: one frozen dataclass per concern (task, model, training), and the presets.

Every checkpoint stores all three as plain JSON; `from_dict` refuses missing or
unknown keys so that a stale or hand-edited file fails loudly, not silently.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields


class ConfigError(ValueError):
    """A configuration value or dictionary that cannot be used."""


SAMPLINGS = ("uniform", "balanced", "mixed", "notebook")


def key_problems(given, expected: set[str]) -> str:
    """'unknown keys [...], missing keys [...]' naming only what is wrong; '' when the keys match."""
    unknown, missing = sorted(set(given) - expected), sorted(expected - set(given))
    return ", ".join(f"{what} keys {keys}" for what, keys in (("unknown", unknown), ("missing", missing)) if keys)


class _Config:
    """Shared to_dict/from_dict for the frozen config dataclasses below."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        if not isinstance(d, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(d).__name__}")
        problems = key_problems(d, {f.name for f in fields(cls)})
        if problems:
            raise ConfigError(f"{cls.__name__}: {problems}")
        return cls(**d)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def _check(self, ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"{type(self).__name__}: {message}")

    def _check_types(self) -> None:
        """Each field holds its declared type (a JSON file can hold anything); ints pass as floats."""
        for f in fields(self):
            value = getattr(self, f.name)
            ok = {"int": isinstance(value, int) and not isinstance(value, bool),
                  "float": isinstance(value, (int, float)) and not isinstance(value, bool),
                  "str": isinstance(value, str), "bool": isinstance(value, bool)}[f.type]
            self._check(ok, f"{f.name} must be {f.type}, got {value!r}")


@dataclass(frozen=True)
class TaskConfig(_Config):
    """What the calculator is asked: two operands of 1..digits digits joined by an operator."""

    digits: int = 3
    operators: str = "+"

    def __post_init__(self) -> None:
        self._check_types()
        self._check(1 <= self.digits <= 9, "digits must be 1..9")
        self._check(self.operators == "+", f"only '+' is supported, got {self.operators!r}")

    @property
    def src_len(self) -> int:
        """S: the longest expression, e.g. 7 for '999+999'."""
        return 2 * self.digits + 1

    @property
    def tgt_len(self) -> int:
        """T: the longest answer plus END, e.g. 5 for '1998 '."""
        return self.digits + 2

    @property
    def max_operand(self) -> int:
        return 10**self.digits - 1

    @property
    def num_pairs(self) -> int:
        """Size of the whole input space: 1,000,000 for 3 digits."""
        return (self.max_operand + 1) ** 2


@dataclass(frozen=True)
class ModelConfig(_Config):
    """The encoder-decoder: cell type, depth, width, input embedding and dropout."""

    cell: str = "lstm"
    layers: int = 1
    hidden: int = 128
    embed: int = 32  # 0 feeds one-hot vectors, as the original notebook did
    dropout: float = 0.0  # variational dropout on the encoder's recurrent state
    reverse_input: bool = True  # the encoder reads '155+339' as '933+551'
    vocab_size: int = 13

    def __post_init__(self) -> None:
        self._check_types()
        self._check(1 <= self.layers <= 16, "layers must be 1..16")
        self._check(1 <= self.hidden <= 4096, "hidden must be 1..4096")
        self._check(0 <= self.embed <= 4096, "embed must be 0..4096 (0 means one-hot)")
        self._check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        self._check(13 <= self.vocab_size <= 1000, "vocab_size must be 13..1000")


@dataclass(frozen=True)
class TrainConfig(_Config):
    """How to train: data size and sampling, optimisation, schedule and stopping."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 3e-3
    adam_beta2: float = 0.999
    lr_schedule: str = "cosine"  # constant | cosine (to lr * min_lr_ratio over all epochs)
    min_lr_ratio: float = 0.01
    clip: float = 1.0
    ema_decay: float = 0.0  # > 0: checkpoints hold an exponential moving average of the weights, this decay per step
    train_size: int = 60_000  # examples per epoch
    test_size: int = 10_000
    sampling: str = "uniform"  # uniform | balanced | mixed | notebook (see data.sample_operands)
    resample: bool = False  # draw a fresh training set every epoch instead of reusing one
    holdout: int = 0  # full-length pairs set aside before training: never trained on; the test set comes from them
    seed: int = 37
    stop_at_zero_error: bool = False  # stop once free-running test error is 0

    def __post_init__(self) -> None:
        self._check_types()
        self._check(self.epochs >= 1, "epochs must be >= 1")
        self._check(self.batch_size >= 1, "batch_size must be >= 1")
        self._check(0 < self.lr < math.inf, "lr must be a finite number > 0")
        self._check(0 <= self.seed < 2**63, "seed must be in 0..2^63-1")
        self._check(0 < self.adam_beta2 < 1, "adam_beta2 must be in (0, 1)")
        self._check(self.lr_schedule in ("constant", "cosine"), "lr_schedule must be constant or cosine")
        self._check(0 < self.min_lr_ratio <= 1, "min_lr_ratio must be in (0, 1]")
        self._check(self.clip > 0, "clip must be > 0")
        self._check(0 <= self.ema_decay < 1, "ema_decay must be in [0, 1) (0: no averaging)")
        self._check(1 <= self.train_size <= 50_000_000, "train_size must be 1..50,000,000")
        self._check(1 <= self.test_size <= 10_000_000, "test_size must be 1..10,000,000")
        self._check(self.holdout == 0 or self.holdout >= self.test_size,
                    f"test_size ({self.test_size}) must not exceed holdout ({self.holdout}): "
                    f"the test set is drawn from the held-out pairs")
        self._check(self.sampling != "notebook" or (not self.resample and not self.holdout),
                    "notebook sampling replays one fixed stream: no resample, no holdout")
        self._check(self.sampling in SAMPLINGS, f"sampling must be one of {SAMPLINGS}")


# The original notebook's setup (SPEC section 2), and ours. See README and benchmarks/RESULTS.md.
PRESETS: dict[str, tuple[TaskConfig, ModelConfig, TrainConfig]] = {
    "seed": (
        TaskConfig(),
        ModelConfig(cell="rnn", layers=3, hidden=100, embed=0, dropout=0.1, reverse_input=False),
        TrainConfig(epochs=100, batch_size=200, lr=1e-3, lr_schedule="constant", train_size=60_000,
                    test_size=10_000, sampling="notebook", seed=37),
    ),
    "default": (
        TaskConfig(),
        ModelConfig(cell="lstm", layers=1, hidden=64, embed=32, dropout=0.0, reverse_input=True),
        TrainConfig(epochs=14, batch_size=128, lr=3e-3, adam_beta2=0.98, lr_schedule="cosine", ema_decay=0.998,
                    train_size=250_000, test_size=10_000, sampling="mixed", resample=True, holdout=20_000,
                    seed=37),
    ),
}


def preset(name: str) -> tuple[TaskConfig, ModelConfig, TrainConfig]:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None
