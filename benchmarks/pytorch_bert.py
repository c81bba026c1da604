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


class Layer(nn.Module):
    """A post-norm BERT layer written out: one fused query/key/value product, softmax(QK^T/sqrt(d))V,
    the output projection, GELU FFN, dropout where BERT has it (the same parameters as
    nn.TransformerEncoderLayer, without its generic checks)."""

    def __init__(self, width, heads, ffn, dropout):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm1 = nn.LayerNorm(width, eps=1e-12)
        self.ffn1, self.ffn2 = nn.Linear(width, ffn), nn.Linear(ffn, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-12)
        self.dropout = dropout

    def forward(self, x):
        B, T, H = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        weights = F.dropout((q @ k.transpose(-1, -2) * (H // self.heads) ** -0.5).softmax(-1), self.dropout, self.training)
        a = self.norm1(x + F.dropout(self.out((weights @ v).transpose(1, 2).reshape(B, T, H)), self.dropout, self.training))
        return self.norm2(a + F.dropout(self.ffn2(F.gelu(self.ffn1(a))), self.dropout, self.training))


class BertMlm(nn.Module):
    def __init__(self, vocab=30522, layers=4, width=256, heads=4, ffn=1024, positions=512, dropout=0.1, stock=True):
        super().__init__()
        self.word = nn.Embedding(vocab, width, padding_idx=0)
        self.position = nn.Embedding(positions, width)
        self.segment = nn.Embedding(2, width)
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, ffn, dropout, activation="gelu", layer_norm_eps=1e-12, batch_first=True) if stock
            else Layer(width, heads, ffn, dropout) for _ in range(layers))
        self.pooler = nn.Linear(width, width)  # part of the checkpoint; MLM pretraining leaves it untouched
        self.transform = nn.Linear(width, width)
        self.transform_norm = nn.LayerNorm(width, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.apply(self._init_bert)

    @staticmethod
    def _init_bert(m):
        # BERT's initialisation (initializer_range 0.02), as zoo's bert and Hugging Face's: PyTorch's
        # defaults (N(0, 1) embeddings) start the tied head far above log V, and on the Intel
        # machine its gradients then ran through denormal floats, 3.7x slower (docs/PERFORMANCE.md).
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            with torch.no_grad():
                m.weight[m.padding_idx].zero_()
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

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
    parser.add_argument("--layer", choices=["stock", "manual"], default="manual",
                        help="the layer written out (the faster here), or nn.TransformerEncoderLayer")
    args = twin.parse_args(parser, warmup=2, steps=10)
    batch, length, vocab, masked = 32, 128, 30522, 19
    model = BertMlm(stock=args.layer == "stock")
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
                      "threads": torch.get_num_threads(), "layer": args.layer, "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
