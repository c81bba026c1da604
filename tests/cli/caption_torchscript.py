"""Greedy captions from Python with a captioner exported by `zoo export`: torch.jit.load, encode
a batch of images (already at the model's input size, normalised here as zoo does), decode_step
with the state passed back in, stopping at <eos>. Asserts the captions equal EXPECTED's lines
(zoo predict --beam 1 on the same images) and that each attention row sums to 1.

Usage: python3 caption_torchscript.py MODEL.pt EXPECTED.txt IMAGE...
"""
import json
import sys

import torch
from torchvision.io import read_image

files = {"vocab.txt": "", "zoo.json": ""}
m = torch.jit.load(sys.argv[1], _extra_files=files)
vocab = files["vocab.txt"].decode().split("\n")
options = json.loads(files["zoo.json"])["model_options"]
mean = torch.tensor(options["mean"]).view(1, 3, 1, 1)
std = torch.tensor(options["std"]).view(1, 3, 1, 1)
images = torch.stack([read_image(p).float() / 255 for p in sys.argv[3:]])
state = m.encode((images - mean) / std)
n = images.size(0)
tokens = torch.full((n,), 2)
out, done = [[] for _ in range(n)], [False] * n
for _ in range(40):
    result = m.decode_step(tokens, *state)
    state, attention = result[1:-1], result[-1]
    if attention.numel():
        assert torch.allclose(attention.sum(1), torch.ones(n), atol=1e-5), attention.sum(1)
    tokens = result[0].argmax(1)
    for i in range(n):
        word = vocab[int(tokens[i])]
        done[i] = done[i] or word == "<eos>"
        if not done[i]:
            out[i].append(word)
    if all(done):
        break
got = [" ".join(o) for o in out]
expected = open(sys.argv[2]).read().split("\n")[:n]
assert got == expected, (got, expected)
