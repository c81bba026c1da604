"""CLIP parity with openai/CLIP's model, written out in benchmarks/pytorch_clip.py (its module
structure and state-dict names), with Debian's python3-torch as the oracle.

For each image tower (the ViT and the modified ResNet, at small sizes so the test is quick):
1. Import: a CLIP with random weights (and random BatchNorm statistics), saved as
   torch.save(model.state_dict()) with the three extra entries the released files carry
   (input_resolution, context_length, vocab_size), goes through `zoo import --from clip`; the
   checkpoint's options are what the shapes imply.
2. Export: `zoo export` of it, loaded by Python's torch.jit.load, gives the reference's
   encode_image and encode_text within 1e-4 at batch sizes other than the traced one, on token rows
   from zoo's own CLIP tokenizer (`zoo data tokenize`); C++'s torch::jit::load (tests/tools/
   zoo_logits) gives the same.
Environment: ZOO, ZOO_LOGITS, ZOO_WORK, ZOO_SHARED_DATA.
"""
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from pytorch_clip import CLIP  # noqa: E402

ZOO, ZOO_LOGITS = os.environ["ZOO"], os.environ["ZOO_LOGITS"]
WORK = os.path.join(os.environ.get("ZOO_WORK", "/tmp/zoo-work"), "parity-clip")
os.makedirs(WORK, exist_ok=True)
path = lambda name: os.path.join(WORK, name)


def run(*args, expect=0):
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)} exited {proc.returncode} (want {expect}):\n{proc.stderr}")
    return proc


captions = ["a photo of a dog.", "Hello, World!", "two red circles left of a blue square"]
ids = run(ZOO, "data", "tokenize", "--tokenizer", "clip", *sum([["--text", c] for c in captions], [])).stdout.split("\n")
# The released tokenizer's ids for the first two (openai/CLIP's simple_tokenizer).
assert ids[0] == "320 1125 539 320 1929 269" and ids[1] == "3306 267 1002 256", ids[:2]
context = 16
tokens = torch.zeros(len(captions), context, dtype=torch.long)
for row, line in enumerate(ids[: len(captions)]):
    row_ids = [49406] + [int(t) for t in line.split()] + [49407]
    tokens[row, : len(row_ids)] = torch.tensor(row_ids)

worst = 0.0
towers = {
    # Heads by openai/CLIP's rule, as its build_model infers them: text and ViT width / 64,
    # the ResNet's attention pooling width * 32 / 64.
    "vit": dict(model="clip_small", kwargs=dict(embed_dim=48, image=32, vision_layers=2, vision_width=128, patch=8, context=context,
                                                text_width=128, text_heads=2, text_layers=2), image=32),
    "resnet": dict(model="clip_small_rn", kwargs=dict(embed_dim=48, image=64, vision_layers=(1, 2, 1, 1), vision_width=16, context=context,
                                                      text_width=64, text_heads=1, text_layers=2), image=64),
}
for tower, spec in towers.items():
    torch.manual_seed(0)
    reference = CLIP(**spec["kwargs"])
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics that matter
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    reference.eval()
    state = reference.state_dict()
    state.update({"input_resolution": torch.tensor(spec["image"]), "context_length": torch.tensor(context), "vocab_size": torch.tensor(49408)})
    torch.save(state, path(f"{tower}.pt"))
    ckpt, exported = path(f"{tower}.ckpt"), path(f"{tower}_ts.pt")
    run(ZOO, "import", "--from", "clip", "--model", spec["model"], "--state-dict", path(f"{tower}.pt"), "--out", ckpt)
    run(ZOO, "export", "--checkpoint", ckpt, "--out", exported)
    files = {"zoo.json": ""}
    scripted = torch.jit.load(exported, _extra_files=files)
    options = json.loads(files["zoo.json"])["model_options"]
    assert options["vision"] == tower and options["input_size"] == spec["image"] and options["context_length"] == context, options
    with torch.no_grad():
        for batch in (1, 3):
            images = torch.randn(batch, 3, spec["image"], spec["image"])
            text = tokens[torch.arange(batch) % len(captions)]
            for method, inputs in (("encode_image", images), ("encode_text", text)):
                want = getattr(reference, method)(inputs)
                got = getattr(scripted, method)(inputs)
                torch.save(inputs, path("input.pt"))
                run(ZOO_LOGITS, "--torchscript", exported, path("input.pt"), path("output.pt"), method)
                from_cpp = torch.load(path("output.pt"))
                for name, value in (("python", got), ("c++", from_cpp)):
                    diff = (value - want).abs().max().item()
                    worst = max(worst, diff)
                    if value.shape != want.shape or diff > 1e-4:
                        sys.exit(f"FAIL: {tower} {method} batch {batch} via {name}: shape {tuple(value.shape)} vs {tuple(want.shape)}, "
                                 f"max difference {diff:.3g}")
print(f"CLIP parity: ViT and ResNet towers imported and exported, encode_image/encode_text within {worst:.2e} of openai/CLIP's layout")
