"""The `rnncalc` command: train | eval | sample | calc | viz. Each subcommand calls one public function.

User errors print one line, `error: ...`, on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import torch

from . import checkpoint
from .calculator import Calculator, ExpressionError, pretrained_path
from .config import PRESETS, ConfigError, ModelConfig, TrainConfig, preset
from .model import CELLS

EXIT_USAGE = 2
RUN_ENTRIES = ("last.json", "final", "best", "epochs", "tb", "interrupted")  # what `train` writes in OUT
MAX_SAMPLES = 10_000_000  # random expressions per eval/sample: beyond this, use --exhaustive
MAX_LINE_BYTES = 1 << 20  # a longer input line is refused unread


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be in 0..2^63-1, got {text}")
    return value


def _path(text: str) -> str:
    """A path flag's value: an empty one (`--model "$DIR"` with DIR unset) is refused, not read as '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnncalc")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class UserError(Exception):
    """Anything the user can fix; reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        if message.startswith("unrecognized arguments:") and re.search(r"(?:^|\s)-\d", message):
            message += " (an expression that starts with '-' goes after --: rnncalc calc -- -1+2)"
        raise UserError(message)


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", type=_path, help="checkpoint directory (default: the shipped model)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnncalc", description="An encoder-decoder RNN that learned to add.")
    parser.add_argument("--version", action="version", version=f"rnncalc {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _, model_default, train_default = preset("default")
    t = sub.add_parser("train", help="train a model (flags override the preset)",
                       description="Train a model. Each flag overrides the preset's value; the values shown "
                                   "are the default preset's.")
    t.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="default: LSTM-64, reversed input, about 4 minutes; seed: the original notebook's setup")
    t.add_argument("--cell", choices=sorted(CELLS), help=f"recurrent cell ({model_default.cell})")
    for flag, kind, text in [
        ("--layers", int, "stacked recurrent layers"), ("--hidden", int, "units per layer"),
        ("--embed", int, "symbol embedding size; 0 feeds one-hot vectors"),
        ("--dropout", float, "variational dropout on the encoder's recurrent state"),
        ("--epochs", int, "passes over the training problems; the cosine schedule spans them all"),
        ("--batch-size", int, "problems per step"), ("--lr", float, "Adam's peak learning rate"),
        ("--train-size", int, "training problems per epoch"),
        ("--test-size", int, "held-out problems checked after each epoch"),
        ("--ema-decay", float, "per-step decay of the moving average of the weights that is evaluated and "
                               "saved; 0 keeps the trained weights themselves"),
        ("--seed", _seed, "fixes data, initialisation and so the result")]:
        name = flag.removeprefix("--").replace("-", "_")
        current = getattr(model_default, name, getattr(train_default, name, None))
        t.add_argument(flag, type=kind, help=f"{text} ({current})")
    t.add_argument("--out", metavar="DIR", type=_path, help="where best/ and final/ checkpoints go (default runs/PRESET)")
    t.add_argument("--logdir", metavar="DIR", type=_path, help="TensorBoard log directory (default OUT/tb)")
    t.add_argument("--quiet", action="store_true", help="no progress bars (they show only on a terminal anyway)")
    t.add_argument("--resume", metavar="DIR", type=_path, help="continue the interrupted run in DIR with its saved configs")
    t.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")

    e = sub.add_parser("eval", help="free-running exact-match accuracy")
    _add_model_arg(e)
    which = e.add_mutually_exclusive_group()
    which.add_argument("--samples", type=int, default=10_000, help="random expressions to test (default 10000)")
    which.add_argument("--exhaustive", action="store_true", help="test every expression the model's task allows")
    e.add_argument("--seed", type=_seed, default=0, help="picks the --samples expressions (default 0)")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")

    s = sub.add_parser("sample", help="print truth against prediction for random expressions")
    _add_model_arg(s)
    s.add_argument("-n", type=int, default=20, help="how many expressions (default 20)")
    s.add_argument("--seed", type=_seed, default=0, help="picks the expressions (default 0)")

    c = sub.add_parser("calc", help="answer expressions; '-' reads one per line from stdin")
    _add_model_arg(c)
    c.add_argument("expressions", nargs="*", metavar="EXPR",
                   help="expressions such as 155+339, or - to read one per line from stdin")
    c.add_argument("--file", metavar="PATH", type=_path,
                   help="read one expression per line from a file ('-' for stdin)")

    v = sub.add_parser("viz", help="draw a picture of the model (PNG, or SVG when --out ends in .svg)")
    figures = v.add_subparsers(dest="figure", required=True, parser_class=_Parser)
    for name, text in VIZ_FIGURES.items():
        f = figures.add_parser(name, help=text)
        _add_model_arg(f)
        f.add_argument("--out", metavar="FILE", type=_path, default=f"{name}.png", help=f"image to write (default {name}.png)")
        if name in ("activations", "probs"):
            f.add_argument("expr", metavar="EXPR", help="an expression such as 155+339")
        if name == "states":
            f.add_argument("--n", type=int, default=3000, help="random expressions to project (default 3000)")
            f.add_argument("--seed", type=_seed, default=0, help="picks the expressions (default 0)")
        if name == "errors":
            which = f.add_mutually_exclusive_group()
            which.add_argument("--exhaustive", action="store_true", help="evaluate every expression")
            which.add_argument("--samples", type=int, default=10_000,
                               help="random expressions to evaluate (default 10000)")
            f.add_argument("--seed", type=_seed, default=0, help="picks the --samples expressions (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): answers would have nowhere to go
            raise UserError("standard output is closed")
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UserError, ValueError, OSError) as e:
        if isinstance(e, BrokenPipeError):  # `rnncalc ... | head`: the reader left; say nothing
            sys.stdout = open(os.devnull, "w")
            return 141
        if isinstance(e, OSError) and e.strerror:  # "PATH: No such file or directory", not "[Errno 2] ..."
            e = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not a user error: still one line, with what to report
        print(f"error: unexpected {type(e).__name__}: {e} (please report this)", file=sys.stderr)
        return 1


def _load(args) -> checkpoint.Checkpoint:
    return checkpoint.load(args.model or pretrained_path())


def cmd_train(args) -> int:
    from .runstate import last_checkpoint_dir
    from .train import TrainingError, train

    if args.resume:
        given = [k for k, v in vars(args).items()
                 if v is not None and (k in ModelConfig.__dataclass_fields__ or k in TrainConfig.__dataclass_fields__)]
        if given or args.out or args.overwrite:
            raise UserError("--resume continues a run with its saved configs; give no other settings")
        out = Path(args.resume)
        saved = checkpoint.load(last_checkpoint_dir(out))
        task, model_cfg, train_cfg = saved.task, saved.model_cfg, saved.train
    else:
        task, model_cfg, train_cfg = preset(args.preset)
        model_cfg = _override(model_cfg, args, ModelConfig)
        train_cfg = _override(train_cfg, args, TrainConfig)
        out = Path(args.out or f"runs/{args.preset}")
        resumable = (out / "last.json").is_file()
        is_run = resumable or any((out / d / "config.json").is_file() for d in ("best", "final", "interrupted"))
        if any((out / name).exists() for name in RUN_ENTRIES) and not (is_run and args.overwrite):
            if resumable:
                raise UserError(f"{out} already holds a run: continue it with --resume {out}, "
                                f"or replace it with --overwrite")
            if is_run:
                raise UserError(f"{out} holds a run stopped before its first epoch ended (nothing to "
                                f"resume): replace it with --overwrite, or choose another --out")
            raise UserError(f"{out} holds files named like a run's ({', '.join(RUN_ENTRIES)}) but is not "
                            f"an rnncalc run: choose another --out")
        if args.overwrite:
            for name in RUN_ENTRIES:
                target = out / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    logdir = Path(args.logdir) if args.logdir else out / "tb"
    print(f"training -> {out}  (TensorBoard: tensorboard --logdir {logdir})")
    print(f"model: {model_cfg}\ntrain: {train_cfg}", flush=True)
    try:
        result = train(task, model_cfg, train_cfg, out=out, resume=bool(args.resume), logdir=logdir,
                       progress=False if args.quiet else None)  # None: bars on a terminal only
    except KeyboardInterrupt:
        try:
            done = f"after epoch {last_checkpoint_dir(out).name.lstrip('0')}"
        except checkpoint.CheckpointError:
            print(f"\ninterrupted before the first epoch ended: nothing to resume; start again with "
                  f"--overwrite (the unfinished epoch's weights are in {out / 'interrupted'})", file=sys.stderr)
            return 130
        print(f"\ninterrupted; the run can continue from its state {done} (the unfinished epoch is redone; "
              f"its weights so far are in {out / 'interrupted'}). Continue with: rnncalc train --resume {out}",
              file=sys.stderr)
        return 130
    except TrainingError as e:  # a divergence: the settings need changing, like any usage error
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    best = result.best
    print(f"done in {result.seconds:.1f}s; best free-running test error {best['test_err']:.4f} "
          f"at epoch {best['epoch']}; saved {out / 'best'} and {out / 'final'}")
    return 0


def _override(cfg, args, cls):
    """Replace cfg fields with the flags the user gave (flag names are field names, dashed)."""
    changes = {k: v for k, v in vars(args).items() if v is not None and k in cls.__dataclass_fields__}
    try:
        return cfg.replace(**changes)
    except ConfigError as e:
        raise UserError(str(e)) from None


def _evaluate(args, ckpt: checkpoint.Checkpoint, teacher_forced: bool = False):
    """Free-running metrics on every expression (--exhaustive) or on --samples random ones."""
    from .data import all_operands, sample_operands
    from .evaluate import evaluate

    if args.exhaustive:
        operands = all_operands(ckpt.task)
    elif not 1 <= args.samples <= MAX_SAMPLES:
        raise UserError(f"--samples must be between 1 and {MAX_SAMPLES:,} (--exhaustive covers every expression)")
    else:
        operands = sample_operands(args.samples, ckpt.task, "uniform", torch.Generator().manual_seed(args.seed))
    return evaluate(ckpt.model, operands, ckpt.task, ckpt.vocab, teacher_forced=teacher_forced,
                    progress=sys.stderr.isatty())


def cmd_eval(args) -> int:
    ckpt = _load(args)
    m = _evaluate(args, ckpt, teacher_forced=not args.exhaustive)
    what = "all" if args.exhaustive else "random"
    if args.json:
        print(json.dumps(m.to_dict(), indent=2))
        return 0
    print(f"free-running exact match on {what} {m.n:,} expressions: {m.accuracy:.4%} "
          f"({m.wrong:,} wrong)  [{m.seconds:.1f}s, {m.per_second:,.0f} expr/s]")
    if m.teacher_forced_wrong is not None:
        print(f"teacher-forced (true answer prefix fed in; not how the calculator runs): "
              f"{1 - m.teacher_forced_wrong / m.n:.4%}")
    for title, table in (("result digits", m.by_length), ("carries", m.by_carries)):
        cells = "  ".join(f"{k}: {1 - w / n:.4%} of {n:,}" for k, (n, w) in sorted(table.items()))
        print(f"by {title}: {cells}")
    for f in m.failures:
        print(f"  wrong: {f['expr']} = {f['truth']}, model says {f['pred']!r}")
    return 0


def cmd_sample(args) -> int:
    from .data import sample_operands

    if not 1 <= args.n <= MAX_SAMPLES:
        raise UserError(f"-n must be between 1 and {MAX_SAMPLES:,}")
    ckpt = _load(args)
    calc = Calculator(ckpt.model, ckpt.task, ckpt.vocab)
    ops = sample_operands(args.n, ckpt.task, "uniform", torch.Generator().manual_seed(args.seed)).tolist()
    answers = calc.calc_many([f"{a}+{b}" for a, b in ops])
    wrong = 0
    for (a, b), got in zip(ops, answers):
        ok = got == str(a + b)
        wrong += not ok
        print(f"{'OK ' if ok else 'BAD'} {a:>{ckpt.task.digits}}+{b:<{ckpt.task.digits}} = {a + b:<5} model: {got}")
    print(f"{len(ops) - wrong} of {len(ops)} right")
    return 0


def _read_lines(stream) -> Iterator[tuple[str, str | ExpressionError]]:
    """A binary stream -> (label, text) per non-blank line, lazily; an ExpressionError in place
    of the text where the line cannot be an expression (not UTF-8, or longer than
    MAX_LINE_BYTES, which is skipped without being held in memory). Lines end at '\\n' only
    (a trailing '\\r' is dropped), so numbers match an editor's; a UTF-8 byte-order mark at the
    start is ignored."""
    for i in itertools.count(1):
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(MAX_LINE_BYTES)
            yield f"line {i}", ExpressionError(f"longer than {MAX_LINE_BYTES:,} bytes")
            continue
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        if i == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield f"line {i}", ExpressionError("not valid UTF-8 text")
            continue
        if text.strip():
            yield f"line {i}", text


def _file_lines(path: str) -> Iterator[tuple[str, str | ExpressionError]]:
    """`_read_lines` of a file, opened and closed by whoever iterates: `_arrived`'s thread, so
    that the main thread never waits to close a file (a FIFO, /dev/stdin) that the thread is
    blocked reading."""
    with open(path, "rb") as f:
        yield from _read_lines(f)


def _own_reader(stdin):
    """A binary reader of stdin's file descriptor that is not sys.stdin.buffer: the thread in
    `_arrived` may be blocked reading it when Python exits (after Ctrl-C, say), and Python's
    shutdown would then wait for sys.stdin.buffer's lock and abort."""
    try:
        return open(stdin.fileno(), "rb", closefd=False)
    except (AttributeError, OSError, ValueError):  # not backed by a descriptor (a test's StringIO)
        return stdin.buffer


def _arrived(items: Iterator, most: int) -> Iterator[list]:
    """Items in lists of up to `most`: each list holds what has arrived so far. A thread reads
    ahead, so a pipe that floods is answered in large batches while a person typing, or a
    program that writes a line and waits, gets each answer at once. The thread stays at most
    a few lists ahead, so input larger than memory streams through."""
    ahead: queue.SimpleQueue = queue.SimpleQueue()
    room = threading.Semaphore(4)  # one permit per `most` items read ahead and not yet taken

    def read() -> None:
        try:
            for n, item in enumerate(items):
                if n % most == 0:
                    room.acquire()
                ahead.put(("item", item))
            ahead.put(("end", None))
        except BaseException as e:  # an unreadable input: raised again where it is consumed
            ahead.put(("raise", e))

    threading.Thread(target=read, daemon=True).start()
    taken = 0
    while True:
        chunk, (kind, value) = [], ahead.get()
        while kind == "item":
            chunk.append(value)
            taken += 1
            if taken % most == 0:
                room.release()
            if len(chunk) == most:
                break
            try:
                kind, value = ahead.get_nowait()
            except queue.Empty:
                break
        if chunk:
            yield chunk
        if kind == "raise":
            raise value
        if kind == "end":
            return


def cmd_calc(args) -> int:
    sources = [bool(args.file), args.expressions == ["-"], bool(args.expressions) and args.expressions != ["-"]]
    if sum(sources) != 1 or ("-" in args.expressions and args.expressions != ["-"]):
        raise UserError("give expressions such as 155+339, or '-' to read stdin, or --file PATH (one of them)")
    calc = Calculator.load(args.model)
    if args.expressions == ["-"] or args.file == "-":
        if sys.stdin is None:
            raise UserError("standard input is closed")
        return _answer_lines(calc, _read_lines(_own_reader(sys.stdin)))
    if args.file:
        return _answer_lines(calc, _file_lines(args.file))
    return _answer_lines(calc, (("", e) for e in args.expressions))


def _answer_lines(calc: Calculator, labelled: Iterator[tuple[str, str | ExpressionError]],
                  batch: int = 1000) -> int:
    """Answer (label, text) pairs in order, as they arrive, up to `batch` at a time: answers on
    stdout, one error line per bad input on stderr. Returns the exit status."""
    failed = 0
    for chunk in _arrived(labelled, batch):
        answers = iter(calc.try_many([text for _, text in chunk if isinstance(text, str)]))
        for label, text in chunk:
            where = f"{label}: " if label else ""
            result = next(answers) if isinstance(text, str) else text
            if isinstance(result, str) and not result:
                result = ExpressionError(f"{text!r}: the model gave an empty answer (is it trained?)")
            if isinstance(result, ExpressionError):
                failed += 1
                sys.stdout.flush()  # keep answers and errors in input order when both go to one pipe
                print(f"error: {where}{result}", file=sys.stderr)
            else:
                print(result)
        sys.stdout.flush()
    return EXIT_USAGE if failed else 0


VIZ_FIGURES = {
    "curves": "loss and error against epoch, from the checkpoint's training history",
    "activations": "encoder and decoder hidden states while answering EXPR",
    "probs": "the decoder's next-symbol probabilities at each step of EXPR",
    "states": "encoder final states of random expressions, projected to 2-D by PCA",
    "errors": "free-running accuracy by result length and by number of carries",
}


def cmd_viz(args) -> int:
    from . import probe, viz
    from .data import sample_operands

    if Path(args.out).suffix.lower() not in (".png", ".svg"):
        raise UserError(f"--out {args.out}: name a .png or .svg file")
    ckpt = _load(args)
    model, task, vocab = ckpt.model, ckpt.task, ckpt.vocab
    if args.figure == "curves":
        history = ckpt.metrics.get("history")
        if not isinstance(history, list) or not history:
            raise UserError(f"{args.model or pretrained_path()}: this checkpoint has no training history "
                            f"to plot (a run's best/, final/ and epochs/NNNN/ have one once an epoch ends)")
        fig = viz.curves(history)
    elif args.figure == "activations":
        fig = viz.activations(probe.activations(model, task, vocab, args.expr))
    elif args.figure == "probs":
        fig = viz.probs(probe.step_probs(model, task, vocab, args.expr))
    elif args.figure == "states":
        if not 2 <= args.n <= 100_000:
            raise UserError("--n must be between 2 and 100,000")
        g = torch.Generator().manual_seed(args.seed)
        fig = viz.states(probe.state_map(model, task, vocab, sample_operands(args.n, task, "uniform", g)))
    else:
        fig = viz.errors(_evaluate(args, ckpt).to_dict())
    print(viz.save(fig, args.out))
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "sample": cmd_sample, "calc": cmd_calc, "viz": cmd_viz}
