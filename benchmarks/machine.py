"""Shared by the benchmarks: what machine this is, and its own matrix-multiply rate."""

from __future__ import annotations

import os
import platform
import time

import torch


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def matmul_gflops(n: int = 2000, k: int = 256, m: int = 1024, repeats: int = 50) -> float:
    """fp32 GFLOP/s of torch matmul at sizes like the decoder's, on all intra-op threads."""
    a, b = torch.randn(n, k), torch.randn(k, m)
    for _ in range(5):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n * k * m * repeats / (time.perf_counter() - start) / 1e9


def describe() -> str:
    return (f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}, {platform.system()}")
