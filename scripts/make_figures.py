"""Draw the README pictures for a checkpoint (default: the shipped model) into docs/img/.

    python scripts/make_figures.py                      # shipped model, all 10^6 problems for errors.png
    python scripts/make_figures.py --model runs/default/best --samples 10000 --out-dir /tmp/img

Writes curves.png, activations.png and probs.png (for --expr), states.png and errors.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from rnncalc import checkpoint, probe, viz
from rnncalc.calculator import pretrained_path
from rnncalc.data import all_operands, sample_operands
from rnncalc.evaluate import evaluate

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the shipped model)")
    p.add_argument("--out-dir", metavar="DIR", type=Path, default=DOCS_IMG, help=f"default {DOCS_IMG}")
    p.add_argument("--expr", default="155+339", help="expression for activations.png and probs.png")
    p.add_argument("--n", type=int, default=3000, help="random problems in states.png (default 3000)")
    p.add_argument("--samples", type=int, help="evaluate N random problems instead of all (quick checks)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    ckpt = checkpoint.load(args.model or pretrained_path())
    model, task, vocab = ckpt.model, ckpt.task, ckpt.vocab
    history = ckpt.metrics.get("history")
    if not history:  # fail before the slow evaluation, not after it
        print(f"error: {args.model or pretrained_path()} has no training history for curves.png", file=sys.stderr)
        return 2
    g = torch.Generator().manual_seed(args.seed)
    if args.samples:
        operands = sample_operands(args.samples, task, "uniform", g)
    else:
        operands = all_operands(task)
    metrics = evaluate(model, operands, task, vocab, progress=sys.stderr.isatty())
    states_ops = sample_operands(args.n, task, "uniform", g)

    figures = {
        "curves.png": lambda: viz.curves(history),
        "activations.png": lambda: viz.activations(probe.activations(model, task, vocab, args.expr)),
        "probs.png": lambda: viz.probs(probe.step_probs(model, task, vocab, args.expr)),
        "states.png": lambda: viz.states(probe.state_map(model, task, vocab, states_ops)),
        "errors.png": lambda: viz.errors(metrics.to_dict()),
    }
    for name, draw in figures.items():
        print(viz.save(draw(), args.out_dir / name))
    print(f"free-running accuracy {metrics.accuracy:.4%} on {metrics.n:,} problems ({metrics.wrong:,} wrong)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
