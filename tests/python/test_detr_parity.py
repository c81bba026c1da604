"""DETR parity with facebookresearch/detr's model, written out in benchmarks/pytorch_detr.py
(torchvision's ResNet-50 with frozen BatchNorm, nn.MultiheadAttention, DETR's names), with
Debian's python3-torch as the oracle.

1. Import: a DETR-R50 with random weights and random frozen BatchNorm statistics, saved as
   DETR's training scripts save it ({"model": state_dict, "args": Namespace(...)}), goes
   through `zoo import --from detr`; the checkpoint keeps DETR's 91 classes and 100 queries.
2. Export: `zoo export` of it, loaded by Python's torch.jit.load, gives DETR's last-layer
   logits (B, 100, 92) and boxes (B, 100, 4) within 1e-4 at batch sizes and image sizes other
   than the traced ones.
Environment: ZOO, ZOO_WORK.
"""
import argparse
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from pytorch_detr import DETR, FrozenBatchNorm2d  # noqa: E402

ZOO = os.environ["ZOO"]
WORK = os.path.join(os.environ.get("ZOO_WORK", "/tmp/zoo-work"), "parity-detr")
os.makedirs(WORK, exist_ok=True)
path = lambda name: os.path.join(WORK, name)


def run(*args, expect=0):
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)} exited {proc.returncode} (want {expect}):\n{proc.stderr}")
    return proc


torch.manual_seed(0)
reference = DETR()
for module in reference.modules():
    if isinstance(module, FrozenBatchNorm2d):  # statistics that matter
        module.running_mean.uniform_(-0.2, 0.2)
        module.running_var.uniform_(0.5, 2.0)
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.2, 0.2)
reference.eval()
torch.save({"model": reference.state_dict(), "args": argparse.Namespace(lr=1e-4, backbone="resnet50"), "epoch": 499}, path("detr.pth"))

run(ZOO, "import", "--from", "detr", "--model", "detr_resnet50", "--state-dict", path("detr.pth"), "--out", path("detr.ckpt"))
run(ZOO, "export", "--checkpoint", path("detr.ckpt"), "--out", path("detr.pt"))
scripted = torch.jit.load(path("detr.pt"))
meta = json.loads(scripted.extra_files()["zoo.json"]) if hasattr(scripted, "extra_files") else None
files = {"zoo.json": ""}
torch.jit.load(path("detr.pt"), _extra_files=files)
meta = json.loads(files["zoo.json"])
assert meta["model_options"]["num_classes"] == 91 and meta["model_options"]["num_queries"] == 100, meta["model_options"]
assert meta["categories"][18]["name"] == "dog", meta["categories"][18]

worst = 0.0
with torch.no_grad():
    for shape in [(1, 3, 96, 128), (3, 3, 160, 96)]:
        x = torch.randn(shape)
        logits, boxes = reference(x)
        zoo_logits, zoo_boxes = scripted(x)
        assert zoo_logits.shape == (shape[0], 100, 92) and zoo_boxes.shape == (shape[0], 100, 4), (zoo_logits.shape, zoo_boxes.shape)
        for mine, theirs in [(zoo_logits, logits[-1]), (zoo_boxes, boxes[-1])]:
            difference = ((mine - theirs).abs().max() / theirs.abs().max()).item()
            worst = max(worst, difference)
            assert difference < 1e-4, f"{shape}: relative difference {difference:.2e}"
print(f"detr parity: import and export match DETR within {worst:.1e} (relative), batch 1 at 96x128 and batch 3 at 160x96")
