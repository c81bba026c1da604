#!/usr/bin/env python3
"""The classify_r50_ts benchmark as an experienced PyTorch engineer writes it, for comparison with
`zoo bench --config classify_r50_ts` (docs/PERFORMANCE.md, scripts/bench_compare.sh).

Batched inference of torchvision's ResNet-50 (25,557,032 parameters) the way PyTorch's own docs
recommend for deployment on the CPU: scripted, then torch.jit.optimize_for_inference (frozen,
batch norms folded into the convolutions, convolutions in oneDNN's layout), under
torch.inference_mode. Batch 16 random 224x224 images. Unit: images.

Usage: /usr/bin/python3 benchmarks/pytorch_classify_r50_ts.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torchvision

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=1, steps=3)
    model = torchvision.models.resnet50()
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    optimized = torch.jit.optimize_for_inference(torch.jit.script(model))
    batch = 16
    images = torch.randn(batch, 3, 224, 224)

    def step():
        with torch.inference_mode():
            assert optimized(images).shape == (batch, 1000)

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "classify_r50_ts_pytorch", "unit": "images", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": params, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
