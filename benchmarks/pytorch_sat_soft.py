#!/usr/bin/env python3
"""The sat_soft benchmark as a strong PyTorch user writes it, for comparison with
`zoo bench --config sat_soft` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: a torchvision ResNet-50 trunk (through layer4)
frozen in eval mode, run under torch.no_grad() (no graph, no activations kept), pooled to 14x14
annotation vectors of 2048; Show, Attend and Tell's soft-attention decoder with embeddings 512,
attention 512, an LSTMCell of 512, h0/c0 from the mean annotation, the gating scalar beta, the
deep output layer L_o(E y + L_h h + L_z z) with dropout 0.5 before L_o, and a vocabulary of
10,000 words. Batch 32 of random 224x224 images with 20-word captions (random ids, teacher
forcing); one step = trunk + decoder forward + cross-entropy + the doubly stochastic penalty
(lambda 1) + backward + clip 5 + Adam(4e-4).

Beyond the popular tutorial's loop (which is the floor, not the bar), this program does what an
expert would: the trunk under no_grad in eval mode; W_a a_i, the annotations' half of the
attention score, computed once per batch rather than at every step; and the output layers
(L_h, L_z, L_o over the 10,000 words) applied once to all 20 steps' states instead of 20 times.

Usage: /usr/bin/python3 benchmarks/pytorch_sat_soft.py [--threads N] [--steps N] [--warmup N]
       [--channels-last]
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class Decoder(nn.Module):
    def __init__(self, vocab=10000, embed=512, hidden=512, attention=512, annotation=2048, dropout=0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.init_h = nn.Linear(annotation, hidden)
        self.init_c = nn.Linear(annotation, hidden)
        self.attend_annotation = nn.Linear(annotation, attention)
        self.attend_hidden = nn.Linear(hidden, attention, bias=False)
        self.attend_score = nn.Linear(attention, 1)
        self.gate = nn.Linear(hidden, 1)
        self.lstm = nn.LSTMCell(embed + annotation, hidden)
        self.out_hidden = nn.Linear(hidden, embed)
        self.out_context = nn.Linear(annotation, embed)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(embed, vocab)

    def forward(self, a, tokens_in):
        # a: (B, L, D) annotation vectors; tokens_in: (B, T)
        mean = a.mean(1)
        h, c = torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))
        projected = self.attend_annotation(a)  # (B, L, A), once per batch
        words = self.embed(tokens_in)          # (B, T, E)
        hs, zs, alphas = [], [], []
        for t in range(tokens_in.size(1)):
            e = self.attend_score(torch.tanh(projected + self.attend_hidden(h).unsqueeze(1))).squeeze(2)
            alpha = F.softmax(e, dim=1)                                  # (B, L)
            z = torch.bmm(alpha.unsqueeze(1), a).squeeze(1)              # (B, D)
            z = torch.sigmoid(self.gate(h)) * z
            h, c = self.lstm(torch.cat([words[:, t], z], dim=1), (h, c))
            hs.append(h), zs.append(z), alphas.append(alpha)
        hs, zs = torch.stack(hs, 1), torch.stack(zs, 1)                  # (B, T, H), (B, T, D)
        # All steps' deep output at once: L_o(E y + L_h h + L_z z)
        logits = self.out(self.dropout(words + self.out_hidden(hs) + self.out_context(zs)))
        return logits, torch.stack(alphas, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels-last", action="store_true")
    args = twin.parse_args(parser, warmup=1, steps=5, threads=2)

    batch, length, vocab, grid = 32, 20, 10000, 14
    resnet = torchvision.models.resnet50()
    trunk = nn.Sequential(*list(resnet.children())[:-2], nn.AdaptiveAvgPool2d(grid)).eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    decoder = Decoder(vocab=vocab).train()
    images = torch.randn(batch, 3, 224, 224)
    if args.channels_last:
        trunk = trunk.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    tokens = torch.randint(4, vocab, (batch, length + 1))
    tokens_in, tokens_out = tokens[:, :-1], tokens[:, 1:]
    adam = torch.optim.Adam(decoder.parameters(), lr=4e-4)

    def step():
        with torch.no_grad():
            a = trunk(images).flatten(2).transpose(1, 2)  # (B, 196, 2048)
        logits, alphas = decoder(a, tokens_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tokens_out.flatten(), reduction="sum")
        loss = loss + ((1 - alphas.sum(1)) ** 2).sum()  # lambda = 1
        loss = loss / tokens_out.numel()
        adam.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 5.0)
        adam.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    params = sum(p.numel() for p in trunk.parameters()) + sum(p.numel() for p in decoder.parameters())
    print(json.dumps({"config": "sat_soft", "impl": "pytorch", "unit": "images", "per_s": batch / seconds,
                      "step_ms": 1000 * seconds, "threads": args.threads, "channels_last": args.channels_last,
                      "params": params, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
