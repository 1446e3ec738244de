"""The command line, run in-process through main(argv), plus one real subprocess."""

import json
import select
import subprocess
import sys

import pytest

from rnncalc import checkpoint
from rnncalc.cli import main
from rnncalc.config import ModelConfig, TaskConfig, TrainConfig
from rnncalc.model import Seq2Seq


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_calc_answers_with_the_shipped_model(capsys):
    code, out, err = run(capsys, "calc", "155+339", "345+111", "999+999", "0+0")
    assert (code, out, err) == (0, "494\n456\n1998\n0\n", "")


@pytest.mark.parametrize("bad, message", [
    ("12a+3", "unexpected character 'a'"),
    ("1234+5", "more than 3 digits"),
    ("+12", "expected"),
    ("1++2", "expected"),
    ("12-3", "operator '-' is not supported"),
    ("", "empty expression"),
])
def test_bad_expression_is_one_line_exit_2(capsys, bad, message):
    code, out, err = run(capsys, "calc", "1+1", bad, "2+2")
    assert code == 2
    assert out == "2\n4\n"  # the good ones still get their answers, in order
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_stdin_batch_names_bad_lines(capsys, monkeypatch):
    code, out, err = run(capsys, "calc", "-", stdin="1+1\nfoo\n\n999+1\n1234+1\n", monkeypatch=monkeypatch)
    assert code == 2 and out == "2\n1000\n"
    assert err.splitlines()[0].startswith("error: line 2: ") and err.splitlines()[1].startswith("error: line 5: ")


def test_file_batch(capsys, tmp_path):
    f = tmp_path / "exprs.txt"
    f.write_text("155+339\n7+45\n")
    assert run(capsys, "calc", "--file", str(f)) == (0, "494\n52\n", "")


@pytest.mark.parametrize("argv, message", [
    (["calc"], "give expressions"),
    (["calc", "--file", "/nonexistent/x"], "No such file"),
    (["calc", "--model", "/nonexistent", "1+1"], "not found"),
    (["train", "--cell", "tcn"], "invalid choice"),
    (["train", "--dropout", "1.5"], "dropout"),
    (["train", "--ema-decay", "1"], "ema_decay"),
    (["frobnicate"], "invalid choice"),
    (["eval", "--samples", "0"], "--samples"),
    (["sample", "-n", "-3"], "-n must be"),
    (["sample", "-n", "1000000000"], "-n must be"),
    (["eval", "--samples", "1000000000"], "--exhaustive covers"),
    (["calc", "-1+2"], "goes after --"),
    (["calc", "--", "-1+2"], "unexpected character '-'"),
    (["calc", "--model", "", "1+1"], "empty string"),
    (["eval", "--model", ""], "empty string"),
    (["sample", "--model", " "], "empty string"),
    (["train", "--out", ""], "empty string"),
    (["viz", "states", "--samples", "0"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_eval_json_on_a_tiny_checkpoint(capsys, tmp_path):
    model = Seq2Seq(ModelConfig(hidden=8, embed=4))
    checkpoint.save(tmp_path, checkpoint.Checkpoint(model, TaskConfig(), TrainConfig()))
    code, out, _ = run(capsys, "eval", "--model", str(tmp_path), "--samples", "300", "--json")
    m = json.loads(out)
    assert code == 0 and m["n"] == 300 and 0 <= m["accuracy"] <= 1 and "teacher_forced_accuracy" in m


def test_eval_reports_free_running_and_teacher_forced(capsys):
    code, out, _ = run(capsys, "eval", "--samples", "2000")
    assert code == 0 and "free-running exact match on random 2,000 expressions: 100.0000%" in out
    assert "teacher-forced" in out


def test_sample_prints_truth_against_prediction(capsys):
    code, out, _ = run(capsys, "sample", "-n", "5")
    assert code == 0 and len(out.splitlines()) == 6 and out.endswith("5 of 5 right\n")


def test_train_cli_writes_checkpoints(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--epochs", "1", "--train-size", "200", "--test-size", "50",
                       "--hidden", "8", "--embed", "4", "--ema-decay", "0.5", "--out", str(tmp_path / "run"),
                       "--quiet")
    assert code == 0 and "best free-running test error" in out
    final = checkpoint.load(tmp_path / "run" / "final")
    assert final.model_cfg.hidden == 8 and final.train.ema_decay == 0.5
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_module_entry_point_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "rnncalc", "calc", "1x1"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_file_with_bom_crlf_and_a_non_utf8_line(capsys, tmp_path):
    f = tmp_path / "exprs.txt"
    f.write_bytes(b"\xef\xbb\xbf1+2\r\n\xff\xfe\r\n\r\n3+4\r\n")
    code, out, err = run(capsys, "calc", "--file", str(f))
    assert code == 2 and out == "3\n7\n"
    assert err == "error: line 2: not valid UTF-8 text\n"


def test_one_source_of_expressions_at_a_time(capsys, tmp_path):
    f = tmp_path / "e.txt"
    f.write_text("1+1\n")
    for argv in (["calc", "--file", str(f), "5+5"], ["calc", "1+1", "-"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "one of them" in err


def test_train_refuses_to_overwrite_a_run(capsys, tmp_path):
    argv = ["train", "--epochs", "1", "--train-size", "100", "--test-size", "20", "--hidden", "4", "--embed", "2",
            "--out", str(tmp_path), "--quiet"]
    assert run(capsys, *argv)[0] == 0
    code, _, err = run(capsys, *argv)
    assert code == 2 and "already holds a run" in err and "--resume" in err
    assert run(capsys, *argv, "--overwrite")[0] == 0


def test_run_interrupted_in_its_first_epoch_can_start_again(capsys, tmp_path, monkeypatch):
    import importlib

    train_module = importlib.import_module("rnncalc.train")  # `rnncalc.train` is the function
    calls = {"n": 0}
    real_loss = train_module.masked_loss

    def interrupt_at_third_step(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_loss(*args)

    argv = ["train", "--epochs", "1", "--train-size", "640", "--test-size", "20", "--batch-size", "64",
            "--hidden", "4", "--embed", "2", "--out", str(tmp_path), "--quiet"]
    monkeypatch.setattr(train_module, "masked_loss", interrupt_at_third_step)
    code, _, err = run(capsys, *argv)
    assert code == 130 and "nothing to resume" in err and "--overwrite" in err
    assert (tmp_path / "interrupted" / "config.json").is_file()
    monkeypatch.setattr(train_module, "masked_loss", real_loss)
    code, _, err = run(capsys, *argv)
    assert code == 2 and "--overwrite" in err and "--resume" not in err  # there is nothing to resume
    assert run(capsys, *argv, "--overwrite")[0] == 0
    assert not (tmp_path / "interrupted").exists() and (tmp_path / "final" / "config.json").is_file()


def test_exhaustive_eval_of_a_huge_space_is_a_usage_error(capsys, tmp_path):
    model = Seq2Seq(ModelConfig(hidden=4, embed=2))
    checkpoint.save(tmp_path, checkpoint.Checkpoint(model, TaskConfig(digits=9), TrainConfig()))
    code, _, err = run(capsys, "eval", "--model", str(tmp_path), "--exhaustive")
    assert code == 2 and err.startswith("error: ") and "too many to enumerate" in err and err.count("\n") == 1
    assert run(capsys, "eval", "--model", str(tmp_path), "--samples", "50")[0] == 0


def test_divergence_is_a_one_line_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--epochs", "1", "--train-size", "200", "--test-size", "20",
                       "--hidden", "4", "--embed", "2", "--lr", "1e300", "--ema-decay", "0",
                       "--out", str(tmp_path), "--quiet")
    assert code == 2 and err.startswith("error: loss became") and "lower --lr" in err and err.count("\n") == 1


def test_version_and_every_help_page(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("rnncalc ")
    for argv in (["--help"], ["train", "--help"], ["eval", "--help"], ["calc", "--help"], ["viz", "errors", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0 and "usage: rnncalc" in capsys.readouterr().out


def test_eval_samples_and_exhaustive_exclude_each_other(capsys):
    code, _, err = run(capsys, "eval", "--samples", "10", "--exhaustive")
    assert code == 2 and "not allowed with" in err


def test_a_thousand_generated_strings_never_crash_the_cli(capsys, tmp_path):
    """Junk, unicode, near-misses and valid sums: every line gets an answer or a one-line error."""
    import random

    rng = random.Random(0)
    alphabet = "0123456789+-*/ \t.,=xX٣３＋\u200b\ufeff\x00\x7f€ñ²①"
    lines = []
    for i in range(1000):
        if i % 4 == 0:
            lines.append(f"{rng.randrange(1000)}+{rng.randrange(1000)}")
        else:
            lines.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))))
    f = tmp_path / "junk.txt"
    f.write_text("\n".join(lines), encoding="utf-8")
    code, out, err = run(capsys, "calc", "--file", str(f))
    answered, errors = out.splitlines(), err.splitlines()
    assert "Traceback" not in err and code == 2
    assert all(e.startswith("error: line ") for e in errors)
    assert all(a.isdigit() for a in answered)
    assert len(answered) + len(errors) == sum(1 for line in lines if line.strip())
    assert len(answered) >= 250  # the valid sums, at least


def test_overwrite_refuses_a_directory_that_is_not_a_run(capsys, tmp_path):
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "train", "--epochs", "1", "--train-size", "100", "--test-size", "20",
                       "--out", str(tmp_path), "--overwrite", "--quiet")
    assert code == 2 and "not an rnncalc run" in err
    assert (tmp_path / "best" / "notes.txt").read_text() == "mine"


def test_huge_seed_names_the_problem(capsys):
    code, _, err = run(capsys, "sample", "--seed", "99999999999999999999999")
    assert code == 2 and "seed must be in" in err


def test_answers_and_errors_stay_in_order_in_one_pipe(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rnncalc", "calc", "1+1", "bad", "2+2"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={k: v for k, v in __import__("os").environ.items() if k != "PYTHONUNBUFFERED"})
    assert proc.stdout.splitlines()[0] == "2" and proc.stdout.splitlines()[1].startswith("error: ")
    assert proc.stdout.splitlines()[2] == "4"


def test_usage_errors_have_no_misplaced_hints(capsys):
    _, _, err = run(capsys, "viz", "states", "--samples", "0")
    assert "goes after --" not in err


def test_missing_file_is_named_without_errno(capsys):
    code, _, err = run(capsys, "calc", "--file", "/nonexistent/x")
    assert code == 2 and err == "error: /nonexistent/x: No such file or directory\n"


def test_file_dash_reads_stdin(capsys, monkeypatch):
    assert run(capsys, "calc", "--file", "-", stdin="155+339\n", monkeypatch=monkeypatch) == (0, "494\n", "")


def test_an_overlong_line_is_refused_and_the_rest_answered(capsys, monkeypatch):
    from rnncalc.cli import MAX_LINE_BYTES

    lines = "1+1\n" + "1" * (3 * MAX_LINE_BYTES) + "\n2+2\n"
    code, out, err = run(capsys, "calc", "-", stdin=lines, monkeypatch=monkeypatch)
    assert (code, out) == (2, "2\n4\n") and err == f"error: line 2: longer than {MAX_LINE_BYTES:,} bytes\n"


def test_arrived_keeps_order_and_batch_size():
    from rnncalc.cli import _arrived

    chunks = list(_arrived(iter(range(2500)), 1000))
    assert [x for c in chunks for x in c] == list(range(2500)) and max(map(len, chunks)) <= 1000


def test_arrived_raises_what_the_reader_raised():
    from rnncalc.cli import _arrived

    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(_arrived(broken(), 10))


def test_stdin_is_answered_line_by_line_as_it_arrives():
    """A program that writes one expression and waits for its answer must get it before EOF."""
    with subprocess.Popen([sys.executable, "-m", "rnncalc", "calc", "-"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        for expr, answer in (("155+339", "494"), ("1+1", "2")):
            proc.stdin.write(expr + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 60)  # it would wait for EOF: never
            assert ready and proc.stdout.readline() == answer + "\n"
        proc.stdin.close()
    assert proc.returncode == 0


def test_arrived_reads_only_a_few_batches_ahead():
    import time

    from rnncalc.cli import _arrived

    produced = []

    def endless():
        for i in range(10**6):
            produced.append(i)
            yield i

    chunks = _arrived(endless(), 100)
    next(chunks)
    time.sleep(0.3)  # time enough to read all 10^6 if nothing held the reader back
    assert len(produced) <= 5 * 100 + 1  # 4 batches waiting, the one taken, and the item held back


@pytest.mark.parametrize("source", [["-"], ["--file", "/dev/stdin"]])
def test_ctrl_c_while_waiting_for_input_exits_cleanly(source):
    """The reading thread is blocked in a read when Python exits: no hang, no 'Fatal Python error'."""
    import signal

    with subprocess.Popen([sys.executable, "-m", "rnncalc", "calc", *source], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        proc.stdin.write("1+1\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout.readline() == "2\n"
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            proc.kill()
        assert (proc.returncode, proc.stderr.read()) == (130, "error: interrupted\n")


def test_closed_stdout_is_a_one_line_error():
    proc = subprocess.run(f"{sys.executable} -m rnncalc calc 1+1 >&-", shell=True, stderr=subprocess.PIPE, text=True)
    assert (proc.returncode, proc.stderr) == (2, "error: standard output is closed\n")
