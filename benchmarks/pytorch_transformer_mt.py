#!/usr/bin/env python3
"""The transformer_mt benchmark written with PyTorch's stock nn.Transformer, for comparison with
`zoo bench --config transformer_mt` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: width 256, 8 heads, feed-forward 1024 (ReLU),
3+3 layers, dropout 0.1, post-norm (nn.Transformer's default), embeddings of 8000/6000 tokens
scaled by sqrt(256) plus sinusoidal positions, dropout on their sum, an output Linear to the
6000 target tokens; batch 64, source length 24, target input length 23 with the causal mask from
nn.Transformer.generate_square_subsequent_mask, label-smoothed (0.1) cross-entropy, Adam 1e-4,
random ids.

Usage: /usr/bin/python3 benchmarks/pytorch_transformer_mt.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class Translator(nn.Module):
    def __init__(self, src_vocab=8000, tgt_vocab=6000, width=256, max_len=1024):
        super().__init__()
        self.width = width
        self.src_embed = nn.Embedding(src_vocab, width)
        self.tgt_embed = nn.Embedding(tgt_vocab, width)
        position = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
        pe = torch.zeros(max_len, width)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe)
        self.dropout = nn.Dropout(0.1)
        self.transformer = nn.Transformer(d_model=width, nhead=8, num_encoder_layers=3, num_decoder_layers=3,
                                          dim_feedforward=1024, dropout=0.1, batch_first=True)
        self.generator = nn.Linear(width, tgt_vocab)

    def embed(self, table, tokens):
        return self.dropout(table(tokens) * math.sqrt(self.width) + self.pe[: tokens.shape[1]])

    def forward(self, src, tgt_in):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        out = self.transformer(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt_in), tgt_mask=mask)
        return self.generator(out)


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=5)
    batch, src_length, tgt_length = 64, 24, 23
    model = Translator()
    model.train()
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    src = torch.randint(4, 8000, (batch, src_length))
    tgt = torch.randint(4, 6000, (batch, tgt_length + 1))

    def step():
        adam.zero_grad()
        logits = model(src, tgt[:, :-1])
        F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), label_smoothing=0.1).backward()
        adam.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "transformer_mt_pytorch", "unit": "tokens", "per_s": batch * tgt_length / seconds,
                      "step_ms": 1000 * seconds, "threads": torch.get_num_threads(),
                      "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
