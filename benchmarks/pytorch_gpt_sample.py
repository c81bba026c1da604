#!/usr/bin/env python3
"""The sample_gpt benchmark as an experienced PyTorch engineer writes it, for comparison with
`zoo bench --config sample_gpt` (docs/PERFORMANCE.md, scripts/bench_compare.sh).

nanoGPT's GPT at its shakespeare_char size (vocabulary 65, 6 layers, 6 heads, width 384, context
256, biases, the output layer tied to the token embedding; 10,770,816 parameters, as zoo's gpt,
of which nanoGPT's count of 10.67M leaves out the 98,304 of the position table)
sampling as nanoGPT's sample.py does (temperature 0.8, top-k 200, torch.multinomial), but with
the key/value cache nanoGPT lacks: preallocated (1, heads, 256, 64) key and value tensors per
layer written in place, the new token's query attending to the cache's filled prefix, only the
last position through the output layer, all under torch.inference_mode. One step = one sample
of 255 new tokens after a 1-token prompt, batch 1. Unit: generated tokens.

Usage: /usr/bin/python3 benchmarks/pytorch_gpt_sample.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)

    def forward(self, x, cache_k, cache_v, pos):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d)
        cache_k[:, :, pos:pos + T] = k
        cache_v[:, :, pos:pos + T] = v
        k, v = cache_k[:, :, :pos + T], cache_v[:, :, :pos + T]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, h, T, pos + T)
        if T > 1:  # a longer prompt: query i sees the cache and new keys up to pos + i
            att = att.masked_fill(torch.ones(T, pos + T, dtype=torch.bool).tril(pos).logical_not(), float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x, cache_k, cache_v, pos):
        x = x + self.attn(self.ln_1(x), cache_k, cache_v, pos)
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab=65, layers=6, heads=6, width=384, context=256):
        super().__init__()
        self.heads, self.width, self.context = heads, width, context
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def new_cache(self, batch):
        shape = (len(self.h), batch, self.heads, self.context, self.width // self.heads)
        return torch.empty(shape), torch.empty(shape)

    def forward(self, tokens, cache, pos):
        """tokens (B, T) at positions pos .. pos + T - 1 -> the last position's logits (B, V)."""
        x = self.wte(tokens) + self.wpe(torch.arange(pos, pos + tokens.shape[1]))
        for layer, block in enumerate(self.h):
            x = block(x, cache[0][layer], cache[1][layer], pos)
        return self.lm_head(self.ln_f(x[:, -1]))

    @torch.inference_mode()
    def generate(self, prompt, new_tokens, temperature=0.8, top_k=200):
        cache = self.new_cache(prompt.shape[0])
        out, pending, pos = [], prompt, 0
        for _ in range(new_tokens):
            logits = self(pending, cache, pos) / temperature
            pos += pending.shape[1]
            if top_k < logits.shape[-1]:  # nanoGPT's top-k; a no-op (skipped) when k covers the vocabulary
                kth = torch.topk(logits, top_k).values[:, [-1]]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            pending = torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)  # (B, 1)
            out.append(pending)
        return torch.cat(out, dim=1)


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=1, steps=3)
    model = Gpt()
    model.eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    new_tokens = model.context - 1

    def step():
        assert model.generate(prompt, new_tokens).shape == (1, new_tokens)

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "sample_gpt_pytorch", "unit": "tokens", "per_s": new_tokens / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
