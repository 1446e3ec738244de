"""Inference speed: exhaustive evaluation of the 10^6 expressions, and `calc` single and batched.

Reports wall time, expressions per second, and the FLOP/s achieved (FLOPs counted by
torch's FlopCounterMode over the same run) as a fraction of this machine's own
fp32 matrix-multiply rate, measured in the same process.

    python benchmarks/bench_eval.py [--model DIR] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from machine import describe, matmul_gflops
from rnncalc import checkpoint
from rnncalc.calculator import Calculator, pretrained_path
from rnncalc.data import all_operands
from rnncalc.evaluate import evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--batch-size", type=int, nargs="+", default=[1000, 2000, 4000])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(describe())
    ckpt = checkpoint.load(args.model or pretrained_path())
    print(f"model: {ckpt.model_cfg}")
    rate = matmul_gflops()
    print(f"matmul rate: {rate:.1f} GFLOP/s (fp32, 2000x256 @ 256x1024)")

    ops = all_operands(ckpt.task)
    with FlopCounterMode(display=False) as counter:
        evaluate(ckpt.model, ops[:100_000], ckpt.task, ckpt.vocab)
    flops_per_expr = counter.get_total_flops() / 100_000
    print(f"model FLOPs per expression (counted on 100k, prefix sharing included): {flops_per_expr:,.0f}")

    for bs in args.batch_size:
        times = []
        for _ in range(args.repeats):
            m = evaluate(ckpt.model, ops, ckpt.task, ckpt.vocab, batch_size=bs)
            times.append(m.seconds)
        best = min(times)
        achieved = flops_per_expr * m.n / best / 1e9
        print(f"exhaustive, batch {bs}: {best:.2f}s best of {args.repeats} (median {statistics.median(times):.2f}s), "
              f"{m.n / best:,.0f} expr/s, {m.wrong} wrong; {achieved:.1f} GFLOP/s = {achieved / rate:.0%} of matmul rate")

    calc = Calculator(ckpt.model, ckpt.task, ckpt.vocab)
    single = []
    for a in range(200):
        start = time.perf_counter()
        calc(f"{a}+{999 - a}")
        single.append(time.perf_counter() - start)
    print(f"calc one expression: median {statistics.median(single) * 1e3:.2f} ms "
          f"(p90 {sorted(single)[int(0.9 * len(single))] * 1e3:.2f} ms)")
    exprs = [f"{a}+{b}" for a, b in torch.randint(0, 1000, (100_000, 2), generator=torch.Generator().manual_seed(0)).tolist()]
    start = time.perf_counter()
    calc.calc_many(exprs)
    dt = time.perf_counter() - start
    print(f"calc_many 100,000 strings (parse + encode + decode + format): {dt:.2f}s, {len(exprs) / dt:,.0f} expr/s")


if __name__ == "__main__":
    main()
