#!/usr/bin/env python3
"""BYOL (Grill et al. 2020) in PyTorch, the twin of `zoo bench --config byol_r18` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: torchvision's resnet18 with the CIFAR stem (3x3
stride-1 conv1, no max-pool) and its fc removed as the backbone, the paper's projector and predictor
(Linear 512->4096, BatchNorm1d, ReLU, Linear 4096->256); the target network a deep copy. One step on
a batch of 128 random images as two 32x32 views: both views through the online network in one
batch, both through the target under no_grad, the symmetrised normalised-MSE loss, backward,
clip_grad_norm_(3), AdamW(lr 1e-3, weight decay 0.04, foreach), and the EMA of the target's weights
and floating-point buffers with torch._foreach_mul_/_foreach_add_ (one fused pass, as a PyTorch user
who cares about speed writes it). --channels-last runs the convolutions in NHWC.

Usage: /usr/bin/python3 benchmarks/pytorch_byol.py [--threads N] [--steps N] [--warmup N] [--channels-last]
"""
import argparse
import copy
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


def mlp(inp, hidden, out):
    return nn.Sequential(nn.Linear(inp, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


class Network(nn.Module):
    def __init__(self, predictor):
        super().__init__()
        backbone = torchvision.models.resnet18(num_classes=10)
        backbone.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        backbone.maxpool = nn.Identity()
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.projector = mlp(512, 4096, 256)
        self.predictor = mlp(256, 4096, 256) if predictor else None

    def forward(self, x):
        z = self.projector(self.backbone(x))
        return self.predictor(z) if self.predictor is not None else z


def pair_loss(q, z):
    return (2 - 2 * (F.normalize(q, dim=-1) * F.normalize(z, dim=-1)).sum(-1)).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels-last", action="store_true")
    args = twin.parse_args(parser, warmup=1, steps=3)
    batch = 128
    online = Network(predictor=True)
    target = copy.deepcopy(online)
    target.predictor = None
    for p in target.parameters():
        p.requires_grad_(False)
    views = torch.randn(2 * batch, 3, 32, 32)
    if args.channels_last:
        online = online.to(memory_format=torch.channels_last)
        target = target.to(memory_format=torch.channels_last)
        views = views.contiguous(memory_format=torch.channels_last)
    online.train(), target.train()
    params = [p for p in online.parameters() if p.requires_grad]
    adamw = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.04, foreach=True)
    ema_to, ema_from = twin.ema_pairs(online, target)  # weights and floating-point buffers

    def step():
        adamw.zero_grad(set_to_none=True)
        q1, q2 = online(views).chunk(2)
        with torch.no_grad():
            z1, z2 = target(views).chunk(2)
        (pair_loss(q1, z2) + pair_loss(q2, z1)).backward()
        twin.clip_step_ema(params, adamw, ema_to, ema_from)

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "byol_r18_pytorch", "unit": "images", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "channels_last": args.channels_last,
                      "params": sum(p.numel() for p in online.parameters()) + sum(p.numel() for p in target.parameters()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
