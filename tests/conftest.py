"""Shared fixtures: tiny CPU configs so that every test runs in seconds.

Run the suite with `pytest` from the repository root.
"""

import pytest
import torch

from rnncalc.config import ModelConfig, TaskConfig, TrainConfig
from rnncalc.model import CELLS
from rnncalc.vocab import Vocab


@pytest.fixture
def task() -> TaskConfig:
    return TaskConfig()


@pytest.fixture
def vocab() -> Vocab:
    return Vocab()


@pytest.fixture
def tiny_model_cfg() -> ModelConfig:
    return ModelConfig(cell="gru", layers=2, hidden=16, embed=8)


@pytest.fixture
def tiny_train_cfg() -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=64, train_size=256, test_size=64, seed=1)


@pytest.fixture(params=sorted(CELLS))
def cell(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
