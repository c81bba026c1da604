#!/usr/bin/env python3
"""The gpt_char benchmark as an experienced PyTorch engineer writes it (nanoGPT's model), for
comparison with `zoo bench --config gpt_char` (docs/PERFORMANCE.md, scripts/bench_compare.sh).

nanoGPT's GPT at its shakespeare_char CPU size: vocabulary 65, 4 layers, 4 heads, width 128,
context 64, biases, no dropout, the output layer tied to the token embedding (809,856 parameters,
as zoo's gpt); one fused c_attn for queries, keys and values; causal attention by
F.scaled_dot_product_attention where PyTorch has it (2.x), else nanoGPT's masked softmax. Batch 12
x 64 random tokens; one step = forward + cross-entropy + backward + AdamW(1e-3, weight decay 0.1
on every parameter, as zoo's bench) over foreach kernels, gradients set to None.

Usage: /usr/bin/python3 benchmarks/pytorch_gpt_char.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads, context):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.flash = hasattr(F, "scaled_dot_product_attention")
        if not self.flash:
            self.register_buffer("bias", torch.tril(torch.ones(context, context)).view(1, 1, context, context))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d)
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = F.softmax(att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf")), dim=-1)
            y = att @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, width, heads, context):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, context)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab=65, layers=4, heads=4, width=128, context=64):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList([Block(width, heads, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=5)
    batch, length = 12, 64
    model = Gpt()
    model.train()
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, foreach=True)
    tokens = torch.randint(0, 65, (batch, length + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step():
        adamw.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()).backward()
        adamw.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "gpt_char_pytorch", "unit": "tokens", "per_s": batch * length / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
