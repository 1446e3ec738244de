"""Train a preset and measure how fast it gets right on the whole input space.

After every epoch the model is evaluated free-running on all 10^6 expressions (the
clock is paused meanwhile) and on the held-out pairs training never saw. Prints
training seconds and examples seen until 99%, 99.9% and 100% exhaustive.

    python benchmarks/bench_train.py --preset default --seed 37 --json benchmarks/results/train-37.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from machine import describe, matmul_gflops
from rnncalc.config import preset
from rnncalc.data import all_operands, make_splits
from rnncalc.evaluate import evaluate
from rnncalc.train import train
from rnncalc.vocab import Vocab

THRESHOLDS = (0.99, 0.999, 1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int, help="override the preset's epochs (the schedule follows)")
    p.add_argument("--ema-decay", type=float, help="override the preset's weight averaging (0: none)")
    p.add_argument("--out", help="also save the run's checkpoints here")
    p.add_argument("--json", help="write the per-epoch table here")
    args = p.parse_args()
    print(describe(), flush=True)
    # This machine's speed drifts over time (a shared VM): its matmul rate, before and after,
    # tells a slow run from a slow machine.
    rate_before = matmul_gflops()
    print(f"matmul rate before: {rate_before:.0f} GFLOP/s", flush=True)

    task, model_cfg, cfg = preset(args.preset)
    cfg = cfg.replace(**{k: v for k, v in (("seed", args.seed), ("epochs", args.epochs), ("ema_decay", args.ema_decay))
                         if v is not None})
    vocab = Vocab()
    everything = all_operands(task)
    unseen = make_splits(task, cfg, torch.Generator().manual_seed(cfg.seed)).held_out
    rows = []

    def exhaustive(model, row):
        full = evaluate(model, everything, task, vocab)
        held = evaluate(model, everything[unseen], task, vocab) if unseen.any() else None
        row = {**row, "examples_seen": row["epoch"] * cfg.train_size, "exhaustive_wrong": full.wrong,
               "exhaustive_accuracy": full.accuracy, "eval_seconds": full.seconds,
               "unseen_n": held.n if held else 0, "unseen_wrong": held.wrong if held else None,
               "failures": full.failures[:5]}
        rows.append(row)
        print(f"  epoch {row['epoch']:3d}  {row['seconds']:7.1f}s  exhaustive {full.accuracy:.5%} "
              f"({full.wrong} wrong)  never-seen {row['unseen_wrong']} wrong of {row['unseen_n']}", flush=True)

    result = train(task, model_cfg, cfg, out=args.out, on_epoch=exhaustive, progress=False,
                   log=lambda line: print(line, flush=True))
    print(f"\npreset {args.preset}, seed {cfg.seed}: {model_cfg}\n")
    for t in THRESHOLDS:
        hit = next((r for r in rows if r["exhaustive_accuracy"] >= t), None)
        when = f"{hit['seconds']:.0f}s, {hit['examples_seen']:,} examples (epoch {hit['epoch']})" if hit else "not reached"
        print(f"  {t:.1%} exhaustive: {when}")
    rate_after = matmul_gflops()
    print(f"  matmul rate: {rate_before:.0f} GFLOP/s before, {rate_after:.0f} after")
    last = rows[-1]
    print(f"  final: {last['exhaustive_accuracy']:.5%} ({last['exhaustive_wrong']} wrong) after "
          f"{result.seconds:.0f}s; never-seen pairs: {last['unseen_wrong']} wrong of {last['unseen_n']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"preset": args.preset, "model": model_cfg.to_dict(),
                                               "train": cfg.to_dict(), "machine": describe(),
                                               "matmul_gflops": [rate_before, rate_after], "rows": rows},
                                              indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
