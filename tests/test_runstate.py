"""Resuming a run killed outright, and the checkpoint loader facing hostile files."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnncalc import checkpoint
from rnncalc.checkpoint import CheckpointError
from rnncalc.cli import main
from rnncalc.config import ModelConfig, TaskConfig, TrainConfig
from rnncalc.model import Seq2Seq
from rnncalc.runstate import last_checkpoint_dir
from rnncalc.train import train


def test_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--hidden", "8", "--embed", "4", "--epochs", "12", "--train-size", "2000",
            "--test-size", "200", "--quiet", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "rnncalc", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        pointer = out / "last.json"
        if pointer.exists() and json.loads(pointer.read_text())["epoch"] >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((out / "last.json").read_text())["epoch"]
    assert 2 <= killed_at < 12 and not (out / "final").exists()

    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert f"resuming {out} after epoch {killed_at}" in capsys.readouterr().out
    resumed = checkpoint.load(out / "final")
    whole = train(resumed.task, resumed.model_cfg, resumed.train, log=lambda s: None, progress=False)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert [r["loss"] for r in resumed.metrics["history"]] == [r["loss"] for r in whole.history]


def test_resume_refuses_new_settings(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "give no other settings" in capsys.readouterr().err


def test_pointer_outside_the_run_is_refused(tmp_path):
    (tmp_path / "last.json").write_text(json.dumps({"epoch": 1, "path": "../../etc"}))
    with pytest.raises(CheckpointError, match="outside"):
        last_checkpoint_dir(tmp_path)


class _Payload:
    """Unpickling this would create a file: the proof that a loader executed it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path, kind):
    ckpt_dir, marker = tmp_path / "ck", tmp_path / "pwned"
    checkpoint.save(ckpt_dir, checkpoint.Checkpoint(Seq2Seq(ModelConfig(hidden=8, embed=4)), TaskConfig(),
                                                    TrainConfig()))
    weights = ckpt_dir / "model.safetensors"
    if kind == "pickle":
        weights.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"w": _Payload(marker)}, weights)
    # Record the planted file's digest, so the loader gets as far as parsing it.
    import hashlib

    meta = json.loads((ckpt_dir / "config.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (ckpt_dir / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        checkpoint.load(ckpt_dir)
    assert main(["calc", "--model", str(ckpt_dir), "1+1"]) == 2
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Payload(marker)))  # the payload is real: unpickling it does create the file
    assert marker.exists()


def test_not_json_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_bytes(os.urandom(64))
    with pytest.raises(CheckpointError, match="config.json"):
        checkpoint.load(tmp_path)
