#!/usr/bin/env python3
"""The crnn_lines benchmark in PyTorch, for comparison with `zoo bench --config crnn_lines`
(docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: CRNN as crnn.pytorch lays it out
(tests/python/crnn_reference.py: the paper's Table 1, nn.LSTM bidirectional layers), grey 100x32
lines, 37 labels, channels-last (NHWC) weights and images, which oneDNN's convolutions prefer (1.10x
over NCHW here); batch 64 random lines with random transcripts of 5-10 characters;
log-softmax, nn.CTCLoss(zero_infinity=True) (its "mean": per character, averaged over the lines),
backward, clip_grad_norm_ 5, Adam(1e-3).

Usage: /usr/bin/python3 benchmarks/pytorch_crnn.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import os
import sys

import torch

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from crnn_reference import CRNN  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=10)
    batch, width = 64, 100
    model = CRNN(32, 1, 37, 256)
    model.train()
    model = model.to(memory_format=torch.channels_last)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    images = torch.randn(batch, 1, 32, width).contiguous(memory_format=torch.channels_last)
    target_lengths = torch.randint(5, 11, (batch,))
    targets = torch.randint(1, 37, (batch, 10))
    columns = torch.full((batch,), width // 4 + 1, dtype=torch.long)

    def step():
        adam.zero_grad()
        log_probs = model(images).log_softmax(2)  # (T, B, 37)
        ctc(log_probs, targets, columns, target_lengths).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        adam.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "crnn_lines_pytorch", "unit": "lines", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "channels_last": True, "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
