import math

import pytest
import torch
from matplotlib.figure import Figure

from rnncalc import checkpoint, probe, viz
from rnncalc.checkpoint import Checkpoint
from rnncalc.cli import main
from rnncalc.config import ModelConfig, TaskConfig, TrainConfig
from rnncalc.evaluate import evaluate
from rnncalc.model import Seq2Seq

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HISTORY = [{"epoch": e, "loss": 2 * math.exp(-e), "train_err_tf": 0.5 / e, "test_err_tf": 0.6 / e,
            "test_err": 0.7 / e if e < 3 else 0.0, "lr": 1e-3, "seconds": float(e)} for e in range(1, 5)]


@pytest.fixture
def model() -> Seq2Seq:
    return Seq2Seq(ModelConfig(hidden=16, embed=8, layers=2)).eval()


@pytest.fixture
def saved(tmp_path, model):
    """Two tiny untrained checkpoints: one with a training history, one without."""
    with_history = checkpoint.save(tmp_path / "ck", Checkpoint(model, TaskConfig(), TrainConfig(),
                                                               metrics={"history": HISTORY}))
    without = checkpoint.save(tmp_path / "bare", Checkpoint(model, TaskConfig(), TrainConfig()))
    return with_history, without


@pytest.mark.parametrize("history", [HISTORY, HISTORY[:1], [{"epoch": 1, "loss": 1.0}],
                                     [{"epoch": 1, "loss": 1.0, "test_err": 0.0}]])
def test_curves(history):
    fig = viz.curves(history)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_yscale() == "log"


@pytest.mark.parametrize("history", [[], [{"epoch": 1}]])
def test_curves_refuse_an_empty_or_broken_history(history):
    with pytest.raises(ValueError):
        viz.curves(history)


@pytest.mark.parametrize("layers", [1, 2])
def test_activations_has_a_panel_per_layer_and_part(task, vocab, layers):
    model = Seq2Seq(ModelConfig(hidden=16, embed=8, layers=layers)).eval()
    act = probe.activations(model, task, vocab, "155+339")
    fig = viz.activations(act)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * layers + 1  # + the colour bar
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == list("933+551")


def test_probs(model, task, vocab):
    sp = probe.step_probs(model, task, vocab, "155+339")
    fig = viz.probs(sp)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["END", *"0123456789+="]


def test_states(model, task, vocab):
    ops = torch.randint(0, 1000, (200, 2), generator=torch.Generator().manual_seed(0))
    fig = viz.states(probe.state_map(model, task, vocab, ops))
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # 2 scatters, 2 colour bars


def test_errors(model, task, vocab):
    ops = torch.randint(0, 1000, (100, 2), generator=torch.Generator().manual_seed(0))
    metrics = evaluate(model, ops, task, vocab).to_dict()
    fig = viz.errors(metrics)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].patches) == len(metrics["by_length"])
    assert len(fig.axes[1].patches) == len(metrics["by_carries"])
    with pytest.raises(ValueError):
        viz.errors({"n": 0})


@pytest.mark.parametrize("wrong, n, text", [(0, 10, "100%"), (1, 10**6, "99.9999%"), (3, 4, "25.00%")])
def test_accuracy_never_rounds_up_to_100(wrong, n, text):
    assert viz._pct(wrong, n) == text


@pytest.mark.parametrize("args", [["curves"], ["activations", "155+339"], ["probs", "5+7"],
                                  ["states", "--n", "100"], ["errors", "--samples", "50"]])
def test_cli_writes_png_and_svg(saved, tmp_path, capsys, args):
    out = tmp_path / "pics" / "fig.png"  # the folder does not exist yet
    assert main(["viz", *args, "--model", str(saved[0]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    svg = tmp_path / "fig.svg"
    assert main(["viz", *args, "--model", str(saved[0]), "--out", str(svg)]) == 0
    assert b"<svg" in svg.read_bytes()[:1000]


def test_cli_default_output_name(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["viz", "probs", "155+339", "--model", str(saved[0])]) == 0
    assert (tmp_path / "probs.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("args, message", [
    (["activations", "1234+5"], "more than 3 digits"),
    (["probs", "12-3"], "operator '-' is not supported"),
    (["states", "--n", "1"], "--n must be between 2"),
    (["states", "--n", "10000000"], "--n must be between 2"),
    (["errors", "--samples", "0"], "--samples must be between 1"),
    (["errors", "--exhaustive", "--samples", "5"], "not allowed with"),
])
def test_cli_user_errors_are_one_line(saved, tmp_path, capsys, args, message):
    out = tmp_path / "x.png"
    assert main(["viz", *args, "--model", str(saved[0]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_curves_needs_a_history(saved, tmp_path, capsys):
    assert main(["viz", "curves", "--model", str(saved[1]), "--out", str(tmp_path / "c.png")]) == 2
    assert "no training history" in capsys.readouterr().err
