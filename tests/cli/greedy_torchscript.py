"""Greedy decoding of the four dates of dates.txt with a translator exported by `zoo export`,
from Python: torch.jit.load, encode at a batch of 4 with its own padding, decode_step with the
state passed back in. Asserts the output equals the expected lines (zoo's own greedy output).
DEVICE (default cpu) is where the graph runs: the exported graphs name no device of their own.

Usage: python3 greedy_torchscript.py MODEL.pt EXPECTED.txt STEPS [DEVICE]
"""
import sys

import torch

files = {"source_vocab.txt": "", "target_vocab.txt": ""}
device = torch.device(sys.argv[4] if len(sys.argv) > 4 else "cpu")
m = torch.jit.load(sys.argv[1], map_location=device, _extra_files=files)
src_vocab = files["source_vocab.txt"].decode().split("\n")
tgt_vocab = files["target_vocab.txt"].decode().split("\n")
ids = {t: i for i, t in enumerate(src_vocab)}
sentences = ["3 March 2021", "", "07.07.1987", "Wednesday, March 3rd 2021"]
expected = open(sys.argv[2]).read().split("\n")[:4]
seqs = [[ids.get(c, 1) for c in s] + [3] for s in sentences]
width = max(map(len, seqs))
src = torch.tensor([x + [0] * (width - len(x)) for x in seqs], device=device)
state = m.encode(src, torch.tensor([len(x) for x in seqs], device=device))
tokens = torch.full((4,), 2, device=device)
out, done = [[] for _ in sentences], [False] * 4
for _ in range(int(sys.argv[3])):
    result = m.decode_step(tokens, *state)
    state = result[1:-1]
    tokens = result[0].argmax(1)
    for i in range(4):
        word = tgt_vocab[int(tokens[i])]
        done[i] = done[i] or word == "<eos>"
        if not done[i]:
            out[i].append(word)
got = ["".join(o) for o in out]
assert got == expected, (got, expected)
