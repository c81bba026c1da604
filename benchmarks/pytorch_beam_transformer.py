#!/usr/bin/env python3
"""The beam_transformer_mt benchmark as an experienced PyTorch engineer writes it, for comparison
with `zoo bench --config beam_transformer_mt` (docs/PERFORMANCE.md, scripts/bench_compare.sh).

The transformer_mt model (benchmarks/pytorch_transformer_mt.py's Translator: stock
nn.Transformer, width 256, 8 heads, 3+3 post-norm layers, 8000/6000 tokens), in eval mode,
translating 16 random source sentences of 24 tokens with beam 5: the encoder once; each decoder
layer's cross-attention keys and values projected once for the whole search and shared by a
sentence's beams; the self-attention keys and values in a preallocated cache written in place
and reordered with the beams; fairseq's search (2k candidates, an <eos> counts among the k best,
hypotheses ranked by log P / length, at most 2 x 24 + 10 = 58 tokens, <eos> forced at the
last), batched over sentences and beams, under torch.inference_mode. The output layer's <eos>
bias is -1e4 on both sides, so that every sentence runs to the length limit and both do the
same work (a random model would otherwise stop at a random step). Unit: sentences.

Usage: /usr/bin/python3 benchmarks/pytorch_beam_transformer.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share
from pytorch_transformer_mt import Translator

BOS, EOS = 2, 3


def heads(x, h):
    """(N, T, E) -> (N, h, T, E / h)"""
    return x.unflatten(-1, (h, -1)).transpose(1, 2)


def attend(q, k, v):
    """softmax(q k^T / sqrt(d)) v over (N, h, T, d) -> (N, T, h d)"""
    weights = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.shape[-1])), dim=-1)
    return (weights @ v).transpose(1, 2).flatten(2)


class IncrementalDecoder:
    """nn.TransformerDecoder's layers run one position at a time with their own weights."""

    def __init__(self, model, memory, rows_per_sentence, max_len):
        self.model, self.layers = model, model.transformer.decoder.layers
        self.h, width = self.layers[0].self_attn.num_heads, model.width
        n = memory.shape[0] * rows_per_sentence
        # Cross-attention keys and values, once: (B, S, E) -> (B, h, S, d), repeated for the beams.
        self.memory_kv = []
        for layer in self.layers:
            w, b = layer.multihead_attn.in_proj_weight[width:], layer.multihead_attn.in_proj_bias[width:]
            k, v = F.linear(memory, w, b).chunk(2, dim=-1)
            self.memory_kv.append((heads(k, self.h).repeat_interleave(rows_per_sentence, 0),
                                   heads(v, self.h).repeat_interleave(rows_per_sentence, 0)))
        d = width // self.h
        self.cache = torch.empty(len(self.layers), 2, n, self.h, max_len, d)
        self.length = 0

    def reorder(self, rows):
        self.cache[:, :, :, :, :self.length] = self.cache[:, :, :, :, :self.length].index_select(2, rows)

    def step(self, tokens):
        """tokens (N) at position self.length -> log-probabilities (N, V)"""
        model, t = self.model, self.length
        x = model.tgt_embed(tokens).unsqueeze(1) * math.sqrt(model.width) + model.pe[t]  # (N, 1, E)
        for i, layer in enumerate(self.layers):
            sa = layer.self_attn
            q, k, v = heads(F.linear(x, sa.in_proj_weight, sa.in_proj_bias), self.h).chunk(3, dim=-1)
            self.cache[i, 0, :, :, t:t + 1] = k
            self.cache[i, 1, :, :, t:t + 1] = v
            x = layer.norm1(x + sa.out_proj(attend(q, self.cache[i, 0, :, :, :t + 1], self.cache[i, 1, :, :, :t + 1])))
            ca = layer.multihead_attn
            q = heads(F.linear(x, ca.in_proj_weight[:model.width], ca.in_proj_bias[:model.width]), self.h)
            x = layer.norm2(x + ca.out_proj(attend(q, *self.memory_kv[i])))
            x = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
        self.length += 1
        x = model.transformer.decoder.norm(x)
        return F.log_softmax(model.generator(x[:, 0]), dim=-1)


@torch.inference_mode()
def beam_search(model, src, k, max_len_ratio=2.0, max_len_extra=10, length_penalty=1.0):
    batch, length = src.shape
    max_len = int(max_len_ratio * length) + max_len_extra
    memory = model.transformer.encoder(model.embed(model.src_embed, src))
    decoder = IncrementalDecoder(model, memory, k, max_len)
    n = batch * k
    scores = torch.full((batch, k), float("-inf"))
    scores[:, 0] = 0  # only beam 0 is alive at the start
    tokens = torch.full((n,), BOS, dtype=torch.long)
    history = torch.empty(n, 0, dtype=torch.long)
    best = [None] * batch  # (score, tokens) of each sentence's best finished hypothesis
    finished = torch.zeros(batch, dtype=torch.long)
    done = torch.zeros(batch, dtype=torch.bool)
    offsets = (torch.arange(batch) * k).unsqueeze(1)
    for t in range(max_len):
        log_probs = decoder.step(tokens)
        vocab = log_probs.shape[1]
        if t + 1 == max_len:  # the last allowed step: only <eos>
            forced = torch.full_like(log_probs, float("-inf"))
            forced[:, EOS] = log_probs[:, EOS]
            log_probs = forced
        candidates = (log_probs + scores.view(n, 1)).view(batch, k * vocab)
        values, flat = candidates.topk(2 * k, dim=1)  # (B, 2k)
        beam, token = flat // vocab, flat % vocab
        is_eos = (token == EOS) & torch.isfinite(values)
        # Hypotheses ending in <eos> among the k best candidates are finished (fairseq's rule).
        ended = is_eos[:, :k] & ~done.unsqueeze(1)
        if ended.any():
            for b, r in ended.nonzero().tolist():
                row = b * k + beam[b, r].item()
                score = values[b, r].item() / max(1.0, t + 1) ** length_penalty
                if best[b] is None or score > best[b][0]:
                    best[b] = (score, history[row].tolist())
                finished[b] += 1
        # The k best candidates that do not end continue: stable order, <eos> ones last.
        order = torch.sort(is_eos.to(torch.int8), dim=1, stable=True).indices[:, :k]
        scores = values.gather(1, order)
        rows = (beam.gather(1, order) + offsets).view(n)
        tokens = token.gather(1, order).view(n)
        done |= (finished >= k) | (t + 1 >= max_len)
        if bool(done.all()):
            break
        history = torch.cat([history.index_select(0, rows), tokens.unsqueeze(1)], dim=1)
        decoder.reorder(rows)
    return best


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=1, steps=2)
    model = Translator()
    model.eval()
    with torch.no_grad():
        model.generator.bias[EOS] = -1e4
    batch, length, beam = 16, 24, 5
    src = torch.randint(4, 8000, (batch, length))
    want = int(2.0 * length) + 10 - 1  # tokens before the forced <eos>

    def step():
        best = beam_search(model, src, beam)
        assert all(b is not None and len(b[1]) == want for b in best), [None if b is None else len(b[1]) for b in best]

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "beam_transformer_mt_pytorch", "unit": "sentences", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
