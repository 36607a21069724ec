"""Shared by the benchmarks: the torch matmul peak of this machine, measured in the same run as the figure it scales."""
import time

import torch


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an n×n fp32 matmul (warm-up, then the mean of `reps`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9
