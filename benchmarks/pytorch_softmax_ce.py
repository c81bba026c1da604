#!/usr/bin/env python3
"""The softmax_ce_6000 benchmark in PyTorch, for comparison with `zoo bench --config
softmax_ce_6000` (docs/PERFORMANCE.md, scripts/bench_compare.sh): F.cross_entropy forward and
backward over (64 x 23) positions and 6,000 classes (gru_bahdanau's output layer), label
smoothing 0.1, a tenth of the targets pads (ignore_index 0), gradients set to None between steps.

Usage: /usr/bin/python3 benchmarks/pytorch_softmax_ce.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=20)
    positions, classes = 64 * 23, 6000
    logits = (torch.randn(positions, classes) * 3).requires_grad_()
    target = torch.randint(1, classes, (positions,))
    target[torch.rand(positions) < 0.1] = 0

    def step():
        logits.grad = None
        F.cross_entropy(logits, target, ignore_index=0, label_smoothing=0.1).backward()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "softmax_ce_6000_pytorch", "unit": "positions", "per_s": positions / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "positions": positions, "classes": classes, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
