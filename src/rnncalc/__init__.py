"""rnncalc: an encoder-decoder RNN trained to be a calculator, and then used as one."""

from .config import ModelConfig, TaskConfig, TrainConfig
from .vocab import Vocab

__all__ = ["ModelConfig", "TaskConfig", "TrainConfig", "Vocab"]
