"""rnncalc: an encoder-decoder RNN trained to be a calculator, and then used as one."""

from .calculator import Calculator, ExpressionError
from .checkpoint import CheckpointError, load
from .config import ModelConfig, TaskConfig, TrainConfig
from .evaluate import Metrics, evaluate
from .train import train
from .vocab import Vocab

__all__ = ["Calculator", "CheckpointError", "ExpressionError", "Metrics", "ModelConfig", "TaskConfig",
           "TrainConfig", "Vocab", "evaluate", "load", "train"]
