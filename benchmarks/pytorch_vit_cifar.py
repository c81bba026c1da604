#!/usr/bin/env python3
"""The vit_cifar benchmark written with PyTorch's stock nn.TransformerEncoder, for comparison with
`zoo bench --config vit_cifar` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: 32x32 images cut into 4x4 patches by a strided
convolution (64 tokens) plus a class token, learned positions, 6 pre-norm encoder layers of width
192 with 3 heads and a 768-wide GELU MLP (nn.TransformerEncoderLayer(norm_first=True), LayerNorm
epsilon 1e-6), no dropout, a final LayerNorm and a 10-class head on the class token; batch 128
random images, cross-entropy, AdamW(lr 1e-3, weight decay 0.05).

Usage: /usr/bin/python3 benchmarks/pytorch_vit_cifar.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class ViT(nn.Module):
    def __init__(self, width=192, depth=6, heads=3, mlp=768, patch=4, image=32, classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, width, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, mlp, dropout=0.0, activation="gelu", layer_norm_eps=1e-6,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)

    def forward(self, images):
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embedding
        return self.head(self.norm(self.encoder(x))[:, 0])


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=10)
    batch = 128
    model = ViT()
    model.train()
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    images = torch.randn(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,))

    def step():
        adamw.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        adamw.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "vit_cifar_pytorch", "unit": "images", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
