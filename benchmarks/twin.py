"""What the PyTorch programs of benchmarks/ share: their command line (--threads, --warmup,
--steps; the same seed) and the clock, timed as `zoo bench` times a configuration (untimed warm-up
steps, then the mean of the timed ones)."""
import argparse
import time

import torch


def parse_args(parser: argparse.ArgumentParser, warmup: int, steps: int, threads: int = 0) -> argparse.Namespace:
    """Adds --threads (default `threads`, or PyTorch's count when 0), --warmup and --steps to the
    script's own options, parses them, and sets the threads and seed 0."""
    parser.add_argument("--threads", type=int, default=threads or torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--steps", type=int, default=steps)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def seconds_per_step(step, warmup: int, steps: int) -> float:
    """Runs `step` warmup times untimed, then `steps` times; the mean seconds of a timed step."""
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps
