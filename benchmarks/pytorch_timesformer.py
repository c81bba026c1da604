#!/usr/bin/env python3
"""The timesformer_small benchmark in PyTorch, for comparison with `zoo bench --config
timesformer_small` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: TimeSformer (tests/python/timesformer_reference.py,
the authors' code rewritten) for 32x32 clips of 8 frames, 4x4 patches, width 192, 4 blocks, 3 heads,
MLP 768, divided space-time attention, 9 classes, no dropout; its attention through
F.scaled_dot_product_attention where PyTorch has it (2.0 and later; the fused kernels), else as
the authors write it. Batch 16 random clips, cross-entropy, AdamW(lr 1e-3, weight decay 0.05).

Usage: /usr/bin/python3 benchmarks/pytorch_timesformer.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import timesformer_reference as reference  # noqa: E402


class FusedAttention(reference.Attention):
    def forward(self, x):
        if not hasattr(F, "scaled_dot_product_attention"):
            return super().forward(x)
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, C))


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=10)
    batch = 16
    reference.Attention = FusedAttention
    model = reference.VisionTransformer(**reference.CONFIGS["timesformer_small"])
    model.train()
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    clips = torch.randn(batch, 3, 8, 32, 32)
    labels = torch.randint(0, 9, (batch,))

    def step():
        adamw.zero_grad()
        F.cross_entropy(model(clips), labels).backward()
        adamw.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "timesformer_small_pytorch", "unit": "clips", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()),
                      "sdpa": hasattr(F, "scaled_dot_product_attention"), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
