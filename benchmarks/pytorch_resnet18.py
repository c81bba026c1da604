#!/usr/bin/env python3
"""The resnet18_64 benchmark as an experienced PyTorch engineer writes it, for comparison with
`zoo bench --config resnet18_64` (docs/PERFORMANCE.md, scripts/bench_compare.sh).

torchvision's ResNet-18 with 10 classes, random 64x64 images, batch 64; one step = forward +
cross-entropy + backward + SGD(lr 0.1, momentum 0.9, weight decay 5e-4) over foreach kernels,
gradients set to None. --channels-last stores the images and weights NHWC (oneDNN's native
layout); measure both, as neither wins everywhere.

Usage: /usr/bin/python3 benchmarks/pytorch_resnet18.py [--channels-last] [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn.functional as F
import torchvision

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels-last", action="store_true")
    args = twin.parse_args(parser, warmup=2, steps=5)
    batch = 64
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = torchvision.models.resnet18(num_classes=10).to(memory_format=memory_format)
    model.train()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True)
    images = torch.randn(batch, 3, 64, 64).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 10, (batch,))

    def step():
        sgd.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        sgd.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "resnet18_64_pytorch", "unit": "images", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "channels_last": args.channels_last,
                      "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
