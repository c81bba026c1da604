#!/usr/bin/env python3
"""The adamw_bert_mini benchmark in PyTorch, for comparison with `zoo bench --config
adamw_bert_mini` (docs/PERFORMANCE.md, scripts/bench_compare.sh): one AdamW(1e-4, weight decay
0.01) step over BERT-Mini's parameters (tests/python/bert_reference.py's model at the published
uncased vocabulary, 11,267,386 parameters), gradients random and fixed. --impl foreach (the
default, the fastest PyTorch 1.13 has on the CPU), single (one tensor at a time), or fused
(PyTorch 2.4+'s fused CPU kernel, where it exists).

Usage: /usr/bin/python3 benchmarks/pytorch_adamw.py [--impl foreach|single|fused] [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import pathlib
import sys

import torch

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "python"))
import bert_reference  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["foreach", "single", "fused"], default="foreach")
    args = twin.parse_args(parser, warmup=2, steps=10)
    model = bert_reference.BertForMaskedLM(vocab=30522, layers=4, width=256, heads=4, ffn=1024)
    parameters = list(model.parameters())
    for p in parameters:
        p.grad = torch.randn_like(p) * 1e-3
    kind = {"foreach": {"foreach": True}, "single": {"foreach": False}, "fused": {"fused": True}}[args.impl]
    adamw = torch.optim.AdamW(parameters, lr=1e-4, weight_decay=0.01, **kind)
    seconds = twin.seconds_per_step(adamw.step, args.warmup, args.steps)
    count = sum(p.numel() for p in parameters)
    print(json.dumps({"config": "adamw_bert_mini_pytorch", "unit": "parameters", "per_s": count / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "impl": args.impl, "params": count, "tensors": len(parameters),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
