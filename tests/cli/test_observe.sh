#!/usr/bin/env bash
# Watching runs and sharing weights: TensorBoard event files in every run folder, read by an
# independent reader (CRCs, tags, steps, the image summary's PNG, the text plugin's options and
# samples) and continued by a resumed run without a repeated step; `zoo runs` and `zoo plot` on
# real and made-up run folders (a killed run, a damaged metrics line); safetensors out and in
# (round trip bit for bit, a torchvision state dict written by Python with F16, BF16 and I64,
# headers that lie); shell completion; the progress line off a terminal.
# Environment (set by ctest): ZOO, ZOO_WORK, ZOO_LOGITS.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/observe
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LOGITS=${ZOO_LOGITS:?path of the zoo_logits helper}
PROTO=$CLI_DIR/../../lib/train/proto/tensorboard_event.proto
EVENTS=$CLI_DIR/read_events.py

# --- TensorBoard: a run's event files, read by Python from the same .proto ---
VIT=(--task classify --model vit_tiny_patch4_32 --set layers=2 --set width=64 --set heads=2 --set mlp=128 --synth-size 64
     --batch-size 16 --workers 1 --threads 2 --log-every 4)
expect 0 "" train "${VIT[@]}" --steps 12 --eval-every 6 --out vit
$PY "$EVENTS" "$PROTO" vit/tb > vit_events.json 2> events.err
check "events: every record's CRCs hold and parses as an Event $(head -c 300 events.err)" test -s vit_events.json
check "events: the scalars, the validation figure and the options, at their steps, none twice" $PY - <<'PY'
import json, sys
d = json.load(open("vit_events.json"))
metrics = [json.loads(l) for l in open("vit/metrics.jsonl")]
s = d["scalars"]
steps = lambda tag: [step for step, _ in s.get(tag, [])]
problems = []
if d["files"] != 1 or d["file_version"] != "brain.Event:2": problems.append(f"files {d['files']} version {d['file_version']}")
for tag in ("train/loss", "train/lr", "train/grad_norm", "train/examples_per_s", "train/epoch"):
    if steps(tag) != [4, 8, 12]: problems.append(f"{tag} at {steps(tag)}")
for tag in ("val/top1", "val/top5"):
    if steps(tag) != [6, 12]: problems.append(f"{tag} at {steps(tag)}")
# The validation scalars are metrics.jsonl's numbers (as float32).
for (step, value), line in zip(s["val/top1"], metrics):
    if line["step"] != step or abs(value - line["val_top1"]) > 1e-4: problems.append(f"val/top1 {step} {value} vs {line}")
if not all(v > 0 for _, v in s["train/examples_per_s"]): problems.append("throughput")
images = [(i["tag"], i["step"]) for i in d["images"]]
if images != [("attention", 6), ("attention", 12)]: problems.append(f"images {images}")
for i in d["images"]:
    if (i["png_width"], i["png_height"]) != (i["width"], i["height"]) or i["width"] < 32 or i["colorspace"] != 3: problems.append(f"image {i}")
texts = [(t["tag"], t["step"], t["plugin"], t["dtype"]) for t in d["texts"]]
if texts != [("config", 0, "text", 7)] or '"vit_tiny_patch4_32"' not in d["texts"][0]["text"]: problems.append(f"texts {texts}")
if d["duplicates"]: problems.append(f"duplicates {d['duplicates']}")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY

# A run killed after logging step 8 but saving only at step 6 (its evaluation) resumes there:
# the event file keeps steps up to 6, and 8 and 12 appear once.
(ZOO_FAULT=kill-after-step=10 "$ZOO" train "${VIT[@]}" --steps 12 --eval-every 6 --out killed) > /dev/null 2>&1
check "fault injection: the run died after step 10" test "$(json x 'd["scalars"]["train/loss"][-1][0]' <($PY "$EVENTS" "$PROTO" killed/tb))" = 8
expect 0 "" runs killed --json
check "runs: a killed run is failed, at step 10 of 12, its note says so" \
  test "$(json x 'd[0]["status"], d[0]["steps"], d[0]["total_steps"], "killed" in d[0]["note"]' out.txt)" = "('failed', 10, 12, True)"
expect 0 "" train "${VIT[@]}" --steps 12 --eval-every 6 --resume --out killed
$PY "$EVENTS" "$PROTO" killed/tb > killed_events.json
check "resume: the same file continues, no (tag, step) twice, steps 4 8 12 and 6 12" test \
  "$(json x 'd["files"], d["duplicates"], [s for s, _ in d["scalars"]["train/loss"]], [s for s, _ in d["scalars"]["val/top1"]], [t["tag"] + str(t["step"]) for t in d["texts"]]' killed_events.json)" \
  = "(1, [], [4, 8, 12], [6, 12], ['config0', 'config6'])"

# Sample outputs as text, and a language model's figure.
expect 0 "" train --task lm --model gpt_mini --steps 4 --batch-size 4 --set layers=1 --set width=32 --set heads=2 --set context=16 \
  --workers 0 --out lm
$PY "$EVENTS" "$PROTO" lm/tb > lm_events.json
check "lm events: the greedy sample as text and the attention figure at the evaluation" test \
  "$(json x '[(t["tag"], t["step"], "continued greedily" in t["text"]) for t in d["texts"] if t["tag"] == "samples"], [(i["tag"], i["step"]) for i in d["images"]]' lm_events.json)" \
  = "([('samples', 4, True)], [('attention', 4)])"
expect 0 "" train --task translate --model seq2seq_attn --synth-size 64 --steps 2 --batch-size 16 --workers 0 --set embedding=16 \
  --set encoder_hidden=16 --set hidden=32 --set attention_hidden=16 --out mt
$PY "$EVENTS" "$PROTO" mt/tb > mt_events.json
check "translate events: a table of source, translation and reference" \
  test "$(json x '[t["text"].splitlines()[0] for t in d["texts"] if t["tag"] == "samples"]' mt_events.json)" = "['| source | translation | reference |']"
# The progress line off a terminal: every ~10% of an epoch (32 steps here), and at least every
# --progress-seconds; each with step/total, loss, learning rate, throughput and ETA.
PROGRESS='^epoch [0-9]+ step [0-9]+/30 loss [0-9.]+ lr [0-9.e-]+ [0-9.]+ ex/s ETA [0-9:]+$'
expect 0 "" train "${VIT[@]}" --batch-size 2 --steps 30 --no-tensorboard --out quiet
check "--no-tensorboard: no tb folder" test ! -e quiet/tb
check "progress off a terminal: a line every ~10% (steps 3, 6, ..., 30)" test "$(grep -cE "$PROGRESS" err.txt)" = 10
expect 0 "" train "${VIT[@]}" --batch-size 2 --steps 30 --no-tensorboard --progress-seconds 0.000001 --out quiet
check "progress off a terminal: a line at every step once --progress-seconds is due" test "$(grep -cE "$PROGRESS" err.txt)" = 30

# A second trainer in a folder one is using (its lock held here) is refused before it writes.
mkdir -p busy
$PY -c "
import fcntl, subprocess, sys
lock = open('busy/.lock', 'w'); fcntl.flock(lock, fcntl.LOCK_EX)
sys.exit(subprocess.run([sys.argv[1], 'train', '--task', 'classify', '--model', 'resnet18_cifar', '--steps', '1', '--out', 'busy'],
                        stdout=open('out.txt', 'w'), stderr=open('err.txt', 'w')).returncode)" "$ZOO"
rc=$?
check "a second trainer in a busy run folder: exit 1, one line naming the lock, nothing written" \
  bash -c "[[ $rc -eq 1 ]] && grep -qx 'zoo train: error: another zoo train is running in busy (it holds busy/.lock)' err.txt && [[ \$(wc -l < err.txt) -eq 1 ]] && [[ \$(ls busy) == '' ]]"
rm -rf busy

# --- zoo runs: a table of the runs, sortable ---
mkdir -p made/damaged made/nested/deeper/ran
cp vit/config.json made/damaged/ && cp vit/train.log made/damaged/
{ head -1 vit/metrics.jsonl; echo '{"step": 9, "val_top1": 9'; tail -1 vit/metrics.jsonl; } > made/damaged/metrics.jsonl
cp vit/config.json vit/train.log vit/metrics.jsonl made/nested/deeper/ran/
expect 0 "" runs .
check "runs: a header and one line per run, finished/failed/stopped in the status column" \
  test "$(head -1 out.txt | tr -s ' ')" = "run task model data steps best time status"
check "runs: every run folder listed, nested ones and the made-up ones included" \
  test "$(tail -n +2 out.txt | awk '{print $1}' | tr '\n' ' ')" = "killed lm made/damaged made/nested/deeper/ran mt quiet vit "
check "runs: the damaged metrics line named on stderr" grep -q "made/damaged: metrics.jsonl line 2 is not an evaluation" err.txt
expect 0 "" runs . --json --sort best
check "runs --sort best: the best top1 first among the classifiers, each finished, with its best and time" $PY - <<'PY'
import json, sys
runs = json.load(open("out.txt"))
vit = [r for r in runs if r["task"] == "classify" and r["best"] is not None]
best = [r["best"] for r in vit]
ok = best == sorted(best, reverse=True) and all(r["status"] == "finished" and r["seconds"] > 0 for r in runs)
by = {r["run"]: r for r in runs}
top1 = max(json.loads(l)["val_top1"] for l in open("vit/metrics.jsonl"))
ok = ok and abs(by["vit"]["best"] - top1) < 1e-9 and by["lm"]["metric"] == "loss" and by["vit"]["steps"] == 12
sys.exit(0 if ok else 1)
PY
expect 1 "nowhere is not a folder" runs nowhere

# --- zoo plot ---
expect 0 "" plot vit killed made/damaged --out curves.png
check "plot: a PNG of three panels with a legend (wider than tall)" $PY -c "
import struct, sys
b = open('curves.png', 'rb').read(24)
w, h = struct.unpack('>II', b[16:24])
sys.exit(0 if b[:8] == b'\x89PNG\r\n\x1a\n' and w >= 3 * 400 and 300 < h < w else 1)"
check "plot: the damaged line named on stderr, the run still drawn" grep -q "metrics.jsonl line 2" err.txt
expect 0 "" plot . --metric top5 --log --out curves_log.png
expect 2 "invalid --metric 'bleu'" plot vit --metric bleu --out x.png
expect 2 "give one or more RUN folders" plot --out x.png

# --- safetensors: export, Python's view of the file, import back bit for bit ---
expect 0 "" export --checkpoint vit/best.ckpt --format safetensors --out vit.safetensors
check "safetensors as the format says: header length, JSON, aligned data, the tiling, the config in the metadata" $PY - <<'PY'
import json, struct, sys
b = open("vit.safetensors", "rb").read()
(n,) = struct.unpack("<Q", b[:8])
h = json.loads(b[8:8 + n])
meta = h.pop("__metadata__")
spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in h.items())
size = {"F32": 4, "I64": 8}
ok = (8 + n) % 8 == 0 and spans[0][0] == 0 and spans[-1][1] == len(b) - 8 - n
ok = ok and all(a[1] == c[0] for a, c in zip(spans, spans[1:]))
for k, v in h.items():
    count = 1
    for d in v["shape"]: count *= d
    ok = ok and v["data_offsets"][1] - v["data_offsets"][0] == count * size[v["dtype"]]
zoo = json.loads(meta["zoo_meta"])
ok = ok and meta["format"] == "pt" and meta["zoo_model"] == "vit_tiny_patch4_32" and zoo["model_options"]["width"] == 64
ok = ok and any(v["shape"] == [6, 64] and v["dtype"] == "F32" for v in h.values())  # the head: 6 classes of width 64
sys.exit(0 if ok else 1)
PY
expect 0 "" import --from safetensors --model vit_tiny_patch4_32 --state-dict vit.safetensors --out back.ckpt
$PY -c "import torch; torch.manual_seed(0); torch.save(torch.randn(2, 3, 32, 32), 'images.pt')"
"$LOGITS" --checkpoint vit/best.ckpt images.pt a.pt && "$LOGITS" --checkpoint back.ckpt images.pt b.pt
check "safetensors round trip: the imported checkpoint's logits equal the original's bit for bit" \
  $PY -c "import torch, sys; sys.exit(0 if torch.equal(torch.load('a.pt'), torch.load('b.pt')) else 1)"
expect 0 "" eval --checkpoint vit/best.ckpt --json
cp out.txt eval_best.json
expect 0 "" eval --checkpoint back.ckpt --json
check "the imported checkpoint evaluates as the exported one" test "$(json x 'd["metrics"]' out.txt)" = "$(json x 'd["metrics"]' eval_best.json)"
expect 2 "zoo export, whose metadata fixes" import --from safetensors --model vit_tiny_patch4_32 --state-dict vit.safetensors --out x.ckpt --set width=32
expect 2 "holds a vit_tiny_patch4_32" import --from safetensors --model resnet18 --state-dict vit.safetensors --out x.ckpt

# A torchvision ResNet-18 written by Python as safetensors (struct + json), in F16, BF16 and I64.
$PY - <<'PY'
import json, struct, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=10).eval()
for mod in m.modules():  # BatchNorm statistics that are not the identity
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)
sd = m.state_dict()
header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
for k, v in sd.items():
    v = v.half() if k.startswith("layer1") else v.bfloat16() if k.startswith("fc") else v  # I64: num_batches_tracked
    sd[k] = v
    raw = v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [at, at + len(raw)]}
    blobs.append(raw); at += len(raw)
text = json.dumps(header).encode()
text += b" " * (-(8 + len(text)) % 8)
open("tv_resnet18.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
x = torch.randn(2, 3, 64, 64)
torch.save(x, "tv_images.pt")
with torch.no_grad(): torch.save(m(x), "tv_logits.pt")
PY
expect 0 "" import --from safetensors --model resnet18 --state-dict tv_resnet18.safetensors --out tv.ckpt
"$LOGITS" --checkpoint tv.ckpt tv_images.pt tv_zoo.pt
check "a safetensors file written by Python (F16, BF16, I64) imports: logits equal torchvision's" \
  $PY -c "import torch, sys; a, b = torch.load('tv_zoo.pt'), torch.load('tv_logits.pt'); sys.exit(0 if a.shape == (2, 10) and torch.allclose(a, b, atol=1e-4) else 1)"
# timm's ViT layout (cls_token, pos_embed, patch_embed.proj, blocks.N.attn.qkv, ...), as timm's
# vision_transformer.py names it, from a torchvision ViT renamed here: the import renames it back.
$PY - <<'PY'
import json, re, struct, torch
from torchvision.models.vision_transformer import VisionTransformer
torch.manual_seed(0)
vit = VisionTransformer(image_size=32, patch_size=4, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10).eval()
with torch.no_grad():
    for p in vit.parameters():
        if not p.any(): p.normal_(0, 0.05)
timm = {}
for k, v in vit.state_dict().items():
    k = {"class_token": "cls_token", "encoder.pos_embedding": "pos_embed"}.get(k, k)
    k = k.replace("conv_proj.", "patch_embed.proj.").replace("encoder.ln.", "norm.").replace("heads.head.", "head.")
    m = re.match(r"encoder\.layers\.encoder_layer_(\d+)\.(.*)", k)
    if m:
        rest = m.group(2)
        for a, b in (("ln_1.", "norm1."), ("self_attention.in_proj_weight", "attn.qkv.weight"), ("self_attention.in_proj_bias", "attn.qkv.bias"),
                     ("self_attention.out_proj.", "attn.proj."), ("ln_2.", "norm2."), ("mlp.0.", "mlp.fc1."), ("mlp.3.", "mlp.fc2.")):
            if rest.startswith(a): rest = b + rest[len(a):]
        k = f"blocks.{m.group(1)}.{rest}"
    timm[k] = v
def write(name, tensors):
    header, blobs, at = {}, [], 0
    for k, v in tensors.items():
        raw = v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw); at += len(raw)
    text = json.dumps(header).encode()
    open(name, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
write("timm_vit.safetensors", timm)
write("timm_vit_pooled.safetensors", {**timm, "fc_norm.weight": torch.ones(32)})
x = torch.randn(2, 3, 32, 32)
torch.save(x, "vit_images.pt")
with torch.no_grad(): torch.save(vit(x), "vit_logits.pt")
PY
VIT_TV=(--set input_size=32 --set patch_size=4 --set layers=2 --set heads=2 --set width=32 --set mlp=64)
expect 0 "" import --from safetensors --model vit_b_16 --state-dict timm_vit.safetensors --out timm_vit.ckpt "${VIT_TV[@]}"
"$LOGITS" --checkpoint timm_vit.ckpt vit_images.pt timm_zoo.pt
check "timm's ViT names import (renamed to torchvision's): logits equal the model's" \
  $PY -c "import torch, sys; a, b = torch.load('timm_zoo.pt'), torch.load('vit_logits.pt'); sys.exit(0 if a.shape == (2, 10) and torch.allclose(a, b, atol=1e-5) else 1)"
expect 1 "unexpected tensor 'fc_norm.weight'" import --from safetensors --model vit_b_16 --state-dict timm_vit_pooled.safetensors --out x.ckpt "${VIT_TV[@]}"
# Headers that lie: one line naming the file and the fault.
$PY - <<'PY'
import json, struct
def write(name, header, data):
    text = json.dumps(header).encode()
    open(name, "wb").write(struct.pack("<Q", len(text)) + text + data)
write("overlap.safetensors", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12))
write("past_end.safetensors", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8))
open("truncated.safetensors", "wb").write(open("tv_resnet18.safetensors", "rb").read()[:5000])
PY
expect 1 "overlap.safetensors: tensor \"b\" overlaps \"a\"" import --from safetensors --model resnet18 --state-dict overlap.safetensors --out x.ckpt
expect 1 "past_end.safetensors: tensor \"a\" runs past the end of the data" import --from safetensors --model resnet18 --state-dict past_end.safetensors --out x.ckpt
expect 1 "truncated.safetensors: .*runs past the end" import --from safetensors --model resnet18 --state-dict truncated.safetensors --out x.ckpt
expect 2 "invalid --format 'onnx'" export --checkpoint vit/best.ckpt --format onnx --out x.onnx
check "no checkpoint was written from a bad file" test ! -e x.ckpt

# --- shell completion ---
expect 0 "" completion bash
cp out.txt zoo.bash
check "completion bash: the script parses (bash -n)" bash -n zoo.bash
complete_words() { bash -c 'source ./zoo.bash; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _zoo; printf "%s\n" "${COMPREPLY[@]}"' _ "$@"; }
check "completion: a command" test "$(complete_words zoo tra)" = train
check "completion: a model name after --model" bash -c "$(declare -f complete_words); complete_words zoo train --task classify --model vit_tiny_p | grep -qx vit_tiny_patch4_32"
check "completion: the chosen model's --set keys" bash -c "$(declare -f complete_words); complete_words zoo train --model vit_tiny_patch4_32 --set lay | grep -qx layers="
check "completion: the ssl wrapper's keys with --task ssl" bash -c "$(declare -f complete_words); complete_words zoo train --task ssl --model resnet18_cifar --set meth | grep -qx method="
check "completion: a nested command's flags" bash -c "$(declare -f complete_words); complete_words zoo data synth --ki | grep -qx -- --kind"
check "completion: the values of --format" test "$(complete_words zoo export --format '' | tr '\n' ' ')" = "torchscript safetensors "
check "completion: the flags of train include --no-tensorboard" bash -c "$(declare -f complete_words); complete_words zoo train --no-t | grep -qx -- --no-tensorboard"
expect 0 "" completion zsh
check "completion zsh: a #compdef script over the bash function" bash -c "head -1 out.txt | grep -qx '#compdef zoo' && grep -q 'complete -F _zoo zoo' out.txt"
if command -v zsh > /dev/null; then check "completion zsh: zsh -n" zsh -n out.txt; fi
expect 2 "invalid shell 'fish'" completion fish

finish observe
