import pytest

from rnncalc.config import ConfigError, ModelConfig, TaskConfig, TrainConfig, preset


@pytest.mark.parametrize("cls", [TaskConfig, ModelConfig, TrainConfig])
def test_dict_round_trip(cls):
    cfg = cls()
    assert cls.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("cls", [TaskConfig, ModelConfig, TrainConfig])
def test_unknown_and_missing_keys_are_refused(cls):
    d = cls().to_dict()
    with pytest.raises(ConfigError, match="unknown keys \\['bogus'\\]"):
        cls.from_dict({**d, "bogus": 1})
    d.pop(next(iter(d)))
    with pytest.raises(ConfigError, match="missing keys"):
        cls.from_dict(d)


def test_task_shapes():
    t = TaskConfig()
    assert (t.src_len, t.tgt_len, t.max_operand, t.num_pairs) == (7, 5, 999, 1_000_000)


def test_seed_preset_is_the_notebook_setup():
    task, model, train = preset("seed")
    assert (model.cell, model.layers, model.hidden, model.embed) == ("rnn", 3, 100, 0)
    assert (train.train_size, train.test_size, train.seed, train.batch_size) == (60_000, 10_000, 37, 200)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="default"):
        preset("nope")


@pytest.mark.parametrize("bad", [{"dropout": 1.0}, {"layers": 0}, {"embed": -1}, {"hidden": 10**9},
                                 {"hidden": "64"}, {"hidden": 64.0}, {"hidden": True}, {"reverse_input": "no"}])
def test_bad_model_values(bad):
    with pytest.raises(ConfigError):
        ModelConfig(**bad)


@pytest.mark.parametrize("bad", [{"lr": float("inf")}, {"lr": float("nan")}, {"train_size": 10**12},
                                 {"epochs": 2.5}, {"resample": 1}])
def test_bad_train_values(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_ints_are_accepted_where_floats_are_declared():
    assert TrainConfig(lr=1).lr == 1


def test_key_errors_name_only_what_is_wrong():
    with pytest.raises(ConfigError) as info:
        ModelConfig.from_dict({k: v for k, v in ModelConfig().to_dict().items() if k != "embed"})
    assert str(info.value) == "ModelConfig: missing keys ['embed']"
