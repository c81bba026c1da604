#!/usr/bin/env python3
"""The bert_mini_mlm benchmark in PyTorch, for comparison with `zoo bench --config bert_mini_mlm`
(docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp, written as a PyTorch engineer would write it for
speed on 1.13: BERT-Mini (4 post-norm layers of width 256, 4 heads, FFN 1024, GELU, dropout 0.1,
30,522 word pieces, 512 positions, 2 segments, the pooler, the masked-LM head tied to the word
embeddings: the same 11,267,386 parameters) built on nn.TransformerEncoderLayer (its fused
query/key/value projection), the masked positions' states gathered before the head (the full
(B, T, V) scores are never formed), cross-entropy, backward, clip_grad_norm_ 1, AdamW(1e-4,
weight decay 0.01, foreach). Batch 32 sequences of 128 pieces, 19 masked each.

Usage: /usr/bin/python3 benchmarks/pytorch_bert.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class BertMlm(nn.Module):
    def __init__(self, vocab=30522, layers=4, width=256, heads=4, ffn=1024, positions=512, dropout=0.1):
        super().__init__()
        self.word = nn.Embedding(vocab, width, padding_idx=0)
        self.position = nn.Embedding(positions, width)
        self.segment = nn.Embedding(2, width)
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, ffn, dropout, activation="gelu", layer_norm_eps=1e-12, batch_first=True)
            for _ in range(layers))
        self.pooler = nn.Linear(width, width)  # part of the checkpoint; MLM pretraining leaves it untouched
        self.transform = nn.Linear(width, width)
        self.transform_norm = nn.LayerNorm(width, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, tokens, flat_positions):
        T = tokens.shape[1]
        h = self.word(tokens) + self.position.weight[:T] + self.segment.weight[0]
        h = self.dropout(self.norm(h))
        for layer in self.layers:
            h = layer(h)
        h = h.flatten(0, 1).index_select(0, flat_positions)  # only the masked positions
        h = self.transform_norm(F.gelu(self.transform(h)))
        return F.linear(h, self.word.weight, self.bias)


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=10)
    batch, length, vocab, masked = 32, 128, 30522, 19
    model = BertMlm()
    model.train()
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, foreach=True)
    tokens = torch.randint(5, vocab, (batch, length))
    tokens[:, 0], tokens[:, -1] = 2, 3
    positions = torch.argsort(torch.rand(batch, length - 2), 1)[:, :masked] + 1
    flat = (positions + torch.arange(batch).unsqueeze(1) * length).flatten()
    labels = tokens.flatten()[flat]

    def step():
        adamw.zero_grad(set_to_none=True)
        F.cross_entropy(model(tokens, flat), labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        adamw.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "bert_mini_mlm_pytorch", "unit": "sequences", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
