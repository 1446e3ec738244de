"""Plot exhaustive free-running accuracy against training time from bench_train.py JSON files.

    python benchmarks/plot_accuracy.py benchmarks/results/*.json --out benchmarks/accuracy_vs_time.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default="benchmarks/accuracy_vs_time.png")
    args = p.parse_args()
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    by_time, by_examples = fig.subplots(1, 2, sharey=True)
    for path in args.runs:
        run = json.loads(Path(path).read_text())
        rows = run["rows"]
        # Error on a log scale shows the last few wrong answers; 0 wrong is drawn at 0.5 of 10^6.
        err = [max(r["exhaustive_wrong"], 0.5) / 1e6 for r in rows]
        label = f"{run['preset']} (seed {run['train']['seed']}): {run['model']['cell']}-{run['model']['hidden']}"
        clean = not run.get("shared_cpu")
        if clean:  # wall time means something only for runs that had the machine to themselves
            by_time.plot([r["seconds"] for r in rows], err, marker="o", label=label)
        by_examples.plot([r["examples_seen"] for r in rows], err, marker="o",
                         label=label + ("" if clean else " (shared CPU)"))
    for ax in (by_time, by_examples):
        for t in (1e-2, 1e-3):
            ax.axhline(t, color="grey", lw=0.5, ls="--")
        ax.axhline(0.5e-6, color="green", lw=0.8, ls=":", label="0 wrong (drawn at 0.5 in 10^6)")
        ax.set(yscale="log")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    by_time.set(xlabel="training seconds on 2 CPU cores (evaluation excluded)",
                ylabel="exhaustive free-running error (of 10^6)", title="against training time (sole runs)")
    by_examples.set(xlabel="training examples seen", title="against examples seen (all runs)")
    fig.suptitle("rnncalc: error over all 1,000,000 sums")
    fig.savefig(args.out, dpi=120)
    print(args.out)


if __name__ == "__main__":
    main()
