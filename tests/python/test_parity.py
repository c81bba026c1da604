"""Parity with torchvision, with Debian's python3-torch/torchvision as the oracle.

    test_parity.py MODEL

1. Import: a torchvision MODEL with random weights (and random BatchNorm statistics), saved
   with torch.save(model.state_dict(), f), goes through `zoo import`; the zoo checkpoint's
   logits equal torchvision's within 1e-4.
2. Export: `zoo export` of that checkpoint, loaded by Python's torch.jit.load and by C++'s
   torch::jit::load, gives the checkpoint's outputs within 1e-5 at batch sizes 1 and 5, keeps
   the parameters as named attributes, and carries the preprocessing and classes.
3. (resnet18) Import errors name the first missing or mis-shaped tensor.
Environment: ZOO, ZOO_LOGITS (test helper), ZOO_WORK.
"""
import json
import os
import subprocess
import sys

import torch
import torchvision

MODEL = sys.argv[1]
ZOO, LOGITS = os.environ["ZOO"], os.environ["ZOO_LOGITS"]
WORK = os.path.join(os.environ.get("ZOO_WORK", "/tmp/zoo-work"), "parity-" + MODEL)
os.makedirs(WORK, exist_ok=True)
path = lambda name: os.path.join(WORK, name)


def run(*args, expect=0):
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)} exited {proc.returncode} (want {expect}):\n{proc.stderr}")
    return proc


def cpp_outputs(flag, file, x):
    torch.save(x, path("x.pt"))
    run(LOGITS, flag, file, path("x.pt"), path("y.pt"))
    return torch.load(path("y.pt"))


torch.manual_seed(0)
kwargs = {"init_weights": True} if MODEL in ("googlenet",) else {}
reference = getattr(torchvision.models, MODEL)(weights=None, **kwargs)
# Random BatchNorm statistics, so that eval-mode normalisation is checked too.
for module in reference.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 2.0)
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.2, 0.2)
# Parameters torchvision starts at zero (ViT's class token and head) get random values: a zero
# head would make every logit 0 and the comparison empty.
with torch.no_grad():
    for name, parameter in reference.named_parameters():
        if not parameter.any():
            parameter.normal_(0, 0.05)
reference.eval()
torch.save(reference.state_dict(), path("state_dict.pt"))
run(ZOO, "import", "--from", "torchvision", "--model", MODEL, "--state-dict", path("state_dict.pt"), "--out", path("model.ckpt"))

failures = []
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    expected = reference(x)
got = cpp_outputs("--checkpoint", path("model.ckpt"), x)
diff = (got - expected).abs().max().item()
print(f"import parity {MODEL}: max |zoo - torchvision| = {diff:.3g} (logit scale {expected.abs().max().item():.3g})")
if got.shape != expected.shape or diff > 1e-4:
    failures.append(f"import: max abs difference {diff} > 1e-4")

run(ZOO, "export", "--checkpoint", path("model.ckpt"), "--out", path("model.pt"))
extra = {"zoo.json": ""}
scripted = torch.jit.load(path("model.pt"), _extra_files=extra)
scripted.eval()
meta = json.loads(extra["zoo.json"])
if meta["model"] != MODEL or len(meta["classes"]) != 1000 or meta["preprocess"]["input_size"] != 224:
    failures.append(f"export: zoo.json lacks the model, classes or preprocessing: {list(meta)}")
# Parameters and buffers are attributes with torchvision's names, not constants in the graph.
missing = set(reference.state_dict()) - set(scripted.state_dict())
if missing:
    failures.append(f"export: the TorchScript module lacks {sorted(missing)[:3]}...")
for batch in (1, 5):
    xb = torch.randn(batch, 3, 224, 224)
    eager = cpp_outputs("--checkpoint", path("model.ckpt"), xb)
    with torch.no_grad():
        python_ts = scripted(xb)
    cpp_ts = cpp_outputs("--torchscript", path("model.pt"), xb)
    d_py = (python_ts - eager).abs().max().item()
    d_cpp = (cpp_ts - eager).abs().max().item()
    print(f"export parity {MODEL} batch {batch}: python {d_py:.3g}, c++ {d_cpp:.3g}")
    if python_ts.shape != (batch, 1000) or d_py > 1e-5 or d_cpp > 1e-5:
        failures.append(f"export batch {batch}: python {d_py}, c++ {d_cpp} > 1e-5")

if MODEL == "resnet18":
    state = reference.state_dict()
    broken = dict(state)
    del broken["layer2.0.bn1.running_mean"]
    torch.save(broken, path("missing.pt"))
    err = run(ZOO, "import", "--from", "torchvision", "--model", MODEL, "--state-dict", path("missing.pt"), "--out", path("x.ckpt"), expect=1).stderr
    if "missing tensor 'layer2.0.bn1.running_mean'" not in err or len(err.strip().splitlines()) != 1:
        failures.append("missing tensor not named: " + err)
    broken = dict(state)
    broken["layer3.1.conv2.weight"] = torch.zeros(3, 3)
    torch.save(broken, path("shape.pt"))
    err = run(ZOO, "import", "--from", "torchvision", "--model", MODEL, "--state-dict", path("shape.pt"), "--out", path("x.ckpt"), expect=1).stderr
    if "'layer3.1.conv2.weight' has shape [3, 3]" not in err:
        failures.append("mis-shaped tensor not named: " + err)
    err = run(ZOO, "import", "--from", "torchvision", "--model", "vgg11", "--state-dict", path("state_dict.pt"), "--out", path("x.ckpt"), expect=1).stderr
    if "unexpected tensor" not in err and "missing tensor" not in err:
        failures.append("wrong architecture not reported: " + err)

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("1 passed, 0 failed")
