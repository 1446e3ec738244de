import json

import pytest
import torch

from rnncalc import checkpoint
from rnncalc.checkpoint import Checkpoint, CheckpointError
from rnncalc.config import ModelConfig, TaskConfig, TrainConfig
from rnncalc.data import make_batch
from rnncalc.model import Seq2Seq


@pytest.fixture
def saved(tmp_path, cell):
    model = Seq2Seq(ModelConfig(cell=cell, layers=2, hidden=10, embed=4)).eval()
    checkpoint.save(tmp_path / "ck", Checkpoint(model, TaskConfig(), TrainConfig(), metrics={"note": 1}))
    return tmp_path / "ck", model


def test_save_then_load_gives_identical_logits(saved, task, vocab):
    path, model = saved
    loaded = checkpoint.load(path)
    b = make_batch(torch.tensor([[155, 339], [3, 4]]), task, vocab)
    with torch.no_grad():
        assert torch.equal(model(b.src, b.src_len, b.tgt_in), loaded.model(b.src, b.src_len, b.tgt_in))
    assert loaded.model_cfg == model.cfg and loaded.metrics == {"note": 1}
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]


def test_config_json_is_readable(saved):
    path, _ = saved
    meta = json.loads((path / "config.json").read_text())
    assert meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["vocab"]["symbols"][:2] == [" ", "0"] and meta["model"]["layers"] == 2


def _edit(path, fn, rehash=False):
    """Edit config.json; with rehash, also record the edited settings' digest, as if saved so."""
    meta = json.loads((path / "config.json").read_text())
    fn(meta)
    if rehash:
        meta["config_sha256"] = checkpoint.settings_sha256(meta)
    (path / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("cell", ["lstm"])
@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format_version=99), "format version 99"),
    (lambda m: m.pop("vocab"), "missing keys \\['vocab'\\]"),
    (lambda m: m["model"].update(extra=1), "unknown keys \\['extra'\\]"),
    (lambda m: m["model"].update(cell="tcn"), "unknown cell 'tcn'"),
    (lambda m: m.update(format_version=True), "format version True"),
    (lambda m: m.pop("config_sha256"), "missing keys \\['config_sha256'\\]"),
])
def test_bad_config_is_refused_with_the_file_named(saved, edit, message):
    path, _ = saved
    _edit(path, edit)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)


@pytest.mark.parametrize("cell", ["lstm"])
@pytest.mark.parametrize("edit", [
    lambda m: m["model"].update(reverse_input=False),
    lambda m: m["task"].update(digits=4),
    lambda m: m["model"].update(hidden=11),
    lambda m: m["vocab"].update(symbols=[m["vocab"]["symbols"][0], *reversed(m["vocab"]["symbols"][1:11]),
                                         *m["vocab"]["symbols"][11:]]),
])
def test_edited_settings_are_refused(saved, edit):
    """Weights mean nothing under other settings: a hand-edited config.json must not load."""
    path, _ = saved
    _edit(path, edit)
    with pytest.raises(CheckpointError, match="changed after the model was saved"):
        checkpoint.load(path)


@pytest.mark.parametrize("cell", ["lstm"])
def test_training_settings_and_metrics_may_be_edited(saved):
    path, _ = saved
    _edit(path, lambda m: (m["train"].update(epochs=99), m["metrics"].update(note="mine")))
    loaded = checkpoint.load(path)
    assert loaded.train.epochs == 99 and loaded.metrics["note"] == "mine"


@pytest.mark.parametrize("cell", ["gru"])
def test_format_version_1_without_a_settings_digest_still_loads(saved, task, vocab):
    path, model = saved
    _edit(path, lambda m: (m.update(format_version=1), m.pop("config_sha256")))
    b = make_batch(torch.tensor([[155, 339]]), task, vocab)
    with torch.no_grad():
        assert torch.equal(checkpoint.load(path).model(b.src, b.src_len, b.tgt_in), model(b.src, b.src_len, b.tgt_in))


@pytest.mark.parametrize("cell", ["lstm"])
def test_settings_that_do_not_fit_the_weights_are_refused(saved):
    path, _ = saved
    _edit(path, lambda m: m["model"].update(hidden=11), rehash=True)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        checkpoint.load(path)


@pytest.mark.parametrize("cell", ["gru"])
def test_truncated_weights_are_refused(saved):
    path, _ = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        checkpoint.load(path)


def test_a_file_or_a_run_directory_is_named_for_what_it_is(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="not a directory"):
        checkpoint.load(tmp_path / "weights.bin")
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "best" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="is a training run, not a checkpoint: use .*best"):
        checkpoint.load(tmp_path / "run")


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "nowhere")


@pytest.mark.parametrize("cell", ["lstm"])
def test_shape_mismatch_is_one_line(saved):
    path, _ = saved
    _edit(path, lambda m: m["model"].update(cell="gru"), rehash=True)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    assert "\n" not in str(info.value) and "model.safetensors" in str(info.value)


@pytest.mark.parametrize("cell", ["gru"])
def test_non_float32_weights_are_refused(saved):
    import hashlib

    from safetensors.torch import load_file, save_file

    path, _ = saved
    tensors = {k: v.long() for k, v in load_file(path / "model.safetensors").items()}
    save_file(tensors, path / "model.safetensors")
    _edit(path, lambda m: m.update(weights_sha256=hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()))
    with pytest.raises(CheckpointError, match="float32"):
        checkpoint.load(path)


@pytest.mark.parametrize("cell", ["rnn"])
def test_metrics_must_be_an_object(saved):
    path, _ = saved
    _edit(path, lambda m: m.update(metrics="x"))
    with pytest.raises(CheckpointError, match="metrics"):
        checkpoint.load(path)


def test_non_finite_weights_are_refused(tmp_path):
    model = Seq2Seq(ModelConfig(hidden=4, embed=2))
    name, param = next(iter(model.named_parameters()))
    with torch.no_grad():
        param.view(-1)[3] = float("nan")
    checkpoint.save(tmp_path, checkpoint.Checkpoint(model, TaskConfig(), TrainConfig()))
    with pytest.raises(CheckpointError, match="NaN or infinite") as info:
        checkpoint.load(tmp_path)
    assert name in str(info.value)
