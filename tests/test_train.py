import json

import pytest
import torch
from safetensors.torch import load_model

from rnncalc import checkpoint
from rnncalc.config import ModelConfig, TrainConfig
from rnncalc.data import make_batch, make_splits
from rnncalc.evaluate import evaluate
from rnncalc.model import Seq2Seq
from rnncalc.runstate import last_checkpoint_dir
from rnncalc.train import masked_loss, train


def test_masked_loss_ignores_logits_past_the_length(task, vocab):
    batch = make_batch(torch.tensor([[1, 1], [500, 600]]), task, vocab)  # "2 " and "1100 "
    logits = torch.randn(2, 5, 13)
    changed = logits.clone()
    changed[0, 2:] = torch.randn(3, 13) * 100  # after "2 " only padding
    changed[1, 5:] = 0  # nothing past T
    assert torch.equal(masked_loss(logits, batch), masked_loss(changed, batch))
    changed[0, 1, 0] += 5  # the END position of "2 " does count
    assert not torch.equal(masked_loss(logits, batch), masked_loss(changed, batch))


def test_tiny_model_overfits_a_tiny_batch(task, vocab):
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(cell="lstm", hidden=48, embed=16))
    ops = torch.tensor([[155, 339], [1, 2], [999, 999], [40, 7], [345, 111], [0, 0], [58, 942], [600, 61]])
    batch = make_batch(ops, task, vocab)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = masked_loss(model(batch.src, batch.src_len, batch.tgt_in), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert evaluate(model, ops, task, vocab).wrong == 0  # free-running, not teacher-forced


def test_train_logs_saves_and_reports(tmp_path, task, tiny_model_cfg, tiny_train_cfg):
    lines = []
    result = train(task, tiny_model_cfg, tiny_train_cfg, out=tmp_path / "run", logdir=tmp_path / "tb",
                   log=lines.append, progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2] and len(lines) == 2
    assert "free-running" in lines[0] and "teacher-forced" in lines[0]
    for name in ("best", "final"):
        meta = json.loads((tmp_path / "run" / name / "config.json").read_text())
        assert meta["train"] == tiny_train_cfg.to_dict() and len(meta["metrics"]["history"]) >= 1
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    final = checkpoint.load(tmp_path / "run" / "final")
    torch.testing.assert_close(final.model.state_dict(), result.model.state_dict())


def test_training_is_deterministic(task, tiny_model_cfg, tiny_train_cfg):
    a = train(task, tiny_model_cfg, tiny_train_cfg, log=lambda s: None, progress=False)
    b = train(task, tiny_model_cfg, tiny_train_cfg, log=lambda s: None, progress=False)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]


@pytest.mark.parametrize("cell", ["rnn", "lnlstm"])
def test_every_cell_trains(task, cell, tiny_train_cfg):
    result = train(task, ModelConfig(cell=cell, hidden=8, embed=4, dropout=0.2),
                   tiny_train_cfg.replace(epochs=1), log=lambda s: None, progress=False)
    assert result.history[0]["loss"] > 0


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, task, tiny_model_cfg, tiny_train_cfg, ema_decay):
    cfg = tiny_train_cfg.replace(epochs=3, sampling="mixed", resample=True, holdout=1000, test_size=100,
                                 ema_decay=ema_decay)
    model_cfg = tiny_model_cfg.replace(dropout=0.3)  # dropout draws from the global RNG: it must be restored too
    quiet = dict(log=lambda s: None, progress=False)
    whole = train(task, model_cfg, cfg, out=tmp_path / "whole", **quiet)

    def stop_after_first(model, row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(task, model_cfg, cfg, out=tmp_path / "cut", on_epoch=stop_after_first, **quiet)
    assert checkpoint.load(tmp_path / "cut" / "interrupted").metrics["history"][-1]["epoch"] == 1
    torch.manual_seed(1234)  # whatever happens in between must not matter
    resumed = train(task, model_cfg, cfg, out=tmp_path / "cut", resume=True, **quiet)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]


def test_the_run_keeps_and_reports_the_moving_average(tmp_path, task, vocab, tiny_model_cfg, tiny_train_cfg):
    cfg = tiny_train_cfg.replace(epochs=1, ema_decay=0.9)
    result = train(task, tiny_model_cfg, cfg, out=tmp_path, log=lambda s: None, progress=False)
    epoch_dir = last_checkpoint_dir(tmp_path)
    kept = checkpoint.load(epoch_dir).model
    trained = Seq2Seq(tiny_model_cfg)
    load_model(trained, epoch_dir / "trained.safetensors")
    assert torch.equal(kept.decoder.head.weight, result.model.decoder.head.weight)
    assert not torch.equal(kept.decoder.head.weight, trained.decoder.head.weight)
    test = make_splits(task, cfg, torch.Generator().manual_seed(cfg.seed)).test
    assert result.history[0]["test_err"] == evaluate(kept, test, task, vocab).error


def test_resume_without_a_completed_epoch_says_so(tmp_path, task, tiny_model_cfg, tiny_train_cfg):
    with pytest.raises(checkpoint.CheckpointError, match="no completed epoch"):
        train(task, tiny_model_cfg, tiny_train_cfg, out=tmp_path, resume=True, progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_state(tmp_path, task, tiny_model_cfg, tiny_train_cfg):
    from rnncalc.train import TrainingError

    saved = {}

    def poison(model, row):  # remember what epoch 1 saved, then make the next forward pass produce NaN
        saved.update({p: p.read_bytes() for p in (tmp_path / "best").iterdir()})
        with torch.no_grad():
            model.decoder.head.bias.fill_(float("nan"))

    with pytest.raises(TrainingError, match="loss became nan at epoch 2"):
        train(task, tiny_model_cfg, tiny_train_cfg.replace(epochs=3), out=tmp_path, on_epoch=poison,
              log=lambda s: None, progress=False)
    assert {p: p.read_bytes() for p in (tmp_path / "best").iterdir()} == saved
    assert last_checkpoint_dir(tmp_path).name == "0001"
    assert checkpoint.load(last_checkpoint_dir(tmp_path)).model.decoder.head.bias.isfinite().all()
    assert not (tmp_path / "final").exists()


def test_tensorboard_gets_scalars_graph_and_hparams(tmp_path, task, tiny_model_cfg, tiny_train_cfg):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(task, tiny_model_cfg, tiny_train_cfg, logdir=tmp_path, log=lambda s: None, progress=False)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = events.Tags()
    assert {"loss", "train_err_tf", "test_err_tf", "test_err", "lr"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("test_err")] == [1, 2]
    assert tags["graph"]
    hparams = EventAccumulator(str(tmp_path)).Reload().PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in hparams
