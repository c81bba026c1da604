#!/usr/bin/env python3
"""DINO (Caron et al. 2021) in PyTorch, the twin of `zoo bench --config dino_vit_tiny` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: a ViT for 32 px images (4 px patches, 6 pre-norm
layers of width 192 with 3 heads, MLP 768, LayerNorm epsilon 1e-6; PyTorch's nn.TransformerEncoder)
whose position embeddings are resized bicubically for 16 px crops, as DINO's
interpolate_pos_encoding; DINO's head (Linear 192->2048, GELU, 2048->2048, GELU, 2048->256,
L2-normalised, weight-normalised Linear 256->4096 with g fixed at 1); the teacher a second build loaded with the student's weights. One
step on a batch of 64 random images as 2 global 32 px crops and 4 local 16 px ones: the student
on the globals and on the locals (one backbone pass per resolution), the teacher on the globals
under no_grad, DINO's loss (centred teacher at tau 0.04, student at tau 0.1, every pair of a
teacher crop and another student crop) and centre update, backward, clip_grad_norm_(3),
AdamW(lr 1e-3, weight decay 0.04, foreach), and the EMA of the teacher with _foreach ops.

Usage: /usr/bin/python3 benchmarks/pytorch_dino.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class ViT(nn.Module):
    def __init__(self, width=192, depth=6, heads=3, mlp=768, patch=4, image=32):
        super().__init__()
        self.grid = image // patch
        self.patch_embed = nn.Conv2d(3, width, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embedding = nn.Parameter(torch.randn(1, self.grid ** 2 + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, mlp, dropout=0.0, activation="gelu", layer_norm_eps=1e-6,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width, eps=1e-6)

    def forward(self, images):
        x = self.patch_embed(images)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        pos = self.pos_embedding
        if h != self.grid or w != self.grid:
            grid = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
            pos = torch.cat([pos[:, :1], grid], 1)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1) + pos
        return self.norm(self.encoder(x))[:, 0]


class DinoHead(nn.Module):
    def __init__(self, inp=192, hidden=2048, bottleneck=256, out=4096):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(inp, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, out, bias=False))
        self.last_layer.weight_g.data.fill_(1)
        self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))


class Network(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.head = ViT(), DinoHead()

    def forward(self, crops_by_size):
        return self.head(torch.cat([self.backbone(c) for c in crops_by_size]))


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=1, steps=5)
    batch = 64
    student = Network()
    teacher = Network()  # weight_norm's modules cannot be deep-copied: a second build, as DINO's
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad_(False)
    student.train(), teacher.train()
    center = torch.zeros(1, 4096)
    globals_ = torch.randn(2 * batch, 3, 32, 32)
    locals_ = torch.randn(4 * batch, 3, 16, 16)
    params = [p for p in student.parameters() if p.requires_grad]
    adamw = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.04, foreach=True)
    ema_to, ema_from = twin.ema_pairs(student, teacher)

    def step():
        nonlocal center
        adamw.zero_grad(set_to_none=True)
        student_out = (student([globals_, locals_]) / 0.1).chunk(6)
        with torch.no_grad():
            teacher_logits = teacher([globals_])
            teacher_out = F.softmax((teacher_logits - center) / 0.04, dim=-1).chunk(2)
        total, terms = 0, 0
        for iq, q in enumerate(teacher_out):
            for v in range(len(student_out)):
                if v == iq:
                    continue
                total = total + torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1).mean()
                terms += 1
        (total / terms).backward()
        with torch.no_grad():
            center = center * 0.9 + teacher_logits.mean(0, keepdim=True) * 0.1
        twin.clip_step_ema(params, adamw, ema_to, ema_from)

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "dino_vit_tiny_pytorch", "unit": "images", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(),
                      "params": sum(p.numel() for p in student.parameters()) + sum(p.numel() for p in teacher.parameters()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
