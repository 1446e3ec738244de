"""Make the shipped model: train the `default` preset, check it on all 10^6 expressions,
and write it into src/rnncalc/pretrained/ with the exhaustive results in its config.json.

    python scripts/make_pretrained.py                          # trains, about 4 minutes on 2 CPU cores
    python scripts/make_pretrained.py --from runs/pretrained   # ship a run that already finished
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from rnncalc import checkpoint
from rnncalc.config import preset
from rnncalc.data import all_operands, make_splits
from rnncalc.evaluate import evaluate
from rnncalc.train import train

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "src" / "rnncalc" / "pretrained"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/pretrained", help="training run directory")
    p.add_argument("--from", dest="done", metavar="RUN", help="skip training: ship RUN/final")
    p.add_argument("--dest", default=str(PACKAGE_DATA))
    args = p.parse_args()

    if args.done is None:
        task, model_cfg, cfg = preset("default")
        train(task, model_cfg, cfg, out=args.run, logdir=Path(args.run) / "tb", progress=False)
    run = Path(args.done or args.run)
    ckpt = checkpoint.load(run / "final")
    task, cfg = ckpt.task, ckpt.train
    everything = all_operands(task)
    full = evaluate(ckpt.model, everything, task, ckpt.vocab)
    held_out = make_splits(task, cfg, torch.Generator().manual_seed(cfg.seed)).held_out
    unseen = evaluate(ckpt.model, everything[held_out], task, ckpt.vocab)
    seconds = ckpt.metrics["history"][-1]["seconds"]
    ckpt.metrics["exhaustive"] = {**full.to_dict(), "never_trained_on": {"n": unseen.n, "wrong": unseen.wrong},
                                  "train_seconds": seconds}
    print(f"trained in {seconds:.0f}s; exhaustive {full.accuracy:.5%} ({full.wrong} wrong, "
          f"{full.seconds:.1f}s); never trained on: {unseen.wrong} wrong of {unseen.n}")
    dest = Path(args.dest)
    shutil.rmtree(dest, ignore_errors=True)
    checkpoint.save(dest, ckpt)
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
