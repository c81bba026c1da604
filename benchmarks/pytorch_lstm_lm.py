#!/usr/bin/env python3
"""The lstm_lm benchmark as an experienced PyTorch engineer writes it, for comparison with
`zoo bench --config lstm_lm` (docs/PERFORMANCE.md, scripts/bench_compare.sh).

A character LSTM language model: vocabulary 65, embedding 128, PyTorch's fused 2-layer nn.LSTM of
512, a linear output layer (3,457,729 parameters, as zoo's char_rnn); batch 32 x 128 random
tokens; one step = forward + cross-entropy + backward + clip 1.0 + Adam(2e-3) over foreach
kernels (clipping too), the state carried detached to the next step (truncated BPTT), gradients set to None.

Usage: /usr/bin/python3 benchmarks/pytorch_lstm_lm.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class CharLstm(nn.Module):
    def __init__(self, vocab=65, embedding=128, hidden=512, layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens, state=None):
        out, state = self.lstm(self.embedding(tokens), state)
        return self.head(out), state


def main():
    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=5)
    batch, length = 32, 128
    model = CharLstm()
    model.train()
    parameters = list(model.parameters())
    adam = torch.optim.Adam(parameters, lr=2e-3, foreach=True)
    tokens = torch.randint(0, 65, (batch, length + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    state = None

    def step():
        nonlocal state
        adam.zero_grad(set_to_none=True)
        logits, new_state = model(inputs, state)
        F.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
        twin.clip_grad_norm_(parameters, 1.0)
        adam.step()
        state = tuple(s.detach() for s in new_state)

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "lstm_lm_pytorch", "unit": "tokens", "per_s": batch * length / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
