#!/usr/bin/env bash
# End-to-end tests of --task video (issue 25): synth:motion written and read back as frame
# folders, TimeSformer (divided, joint, space) against the PyTorch reference, R(2+1)D against
# torchvision, a single frame at chance where TimeSformer and CNN+LSTM learn the motions, export of
# clips at any batch size, visualize, --init from a ViT, predict, and bad videos.
# Environment (set by ctest): ZOO, ZOO_LOGITS (test helper), ZOO_WORK.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/video
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LOGITS=${ZOO_LOGITS:?path of the zoo_logits helper}
ZOO_WEIGHTS=${ZOO_WEIGHTS:?path of the zoo_weights helper}
export PYTHONPATH="$CLI_DIR/../python${PYTHONPATH:+:$PYTHONPATH}"

# --- zoo data synth --kind motion: frame folders in the real format ---
expect 0 "wrote 36 training and 64 validation clips" data synth --kind motion --out motion --n 36 --image-size 32
check "synth:motion on disk: 9 class folders, 17 frames per clip" $PY - <<'PY'
import os
classes = sorted(os.listdir("motion/train"))
assert classes == ["blink", "grow", "move_down", "move_left", "move_right", "move_up", "shrink", "turn_ccw", "turn_cw"], classes
clips = [os.path.join("motion/train", c, k) for c in classes for k in os.listdir(os.path.join("motion/train", c))]
assert len(clips) == 36 and all(len(os.listdir(k)) == 17 for k in clips)
PY

# same_logits NAME CKPT: the checkpoint's logits on NAME.x.pt (through zoo_logits) == NAME.want.pt,
# the reference's, both (2, 9).
same_logits() {
  check "$1: zoo's logits == the reference's" $PY - "$LOGITS" "$1" "$2" <<'PY'
import subprocess, sys, torch
helper, name, ckpt = sys.argv[1:4]
subprocess.run([helper, "--checkpoint", ckpt, f"{name}.x.pt", "got.pt"], check=True)
got, want = torch.load("got.pt"), torch.load(f"{name}.want.pt")
assert got.shape == want.shape == (2, 9), got.shape
assert (got - want).abs().max() < 1e-4, (got - want).abs().max()
PY
}
# reference NAME: runs the Python on stdin, which defines the model m (eval mode) and the clip
# shape; saves NAME.pt (its state dict), NAME.x.pt and NAME.want.pt.
reference() {
  $PY -c "import sys, torch
torch.manual_seed(0)
exec(sys.stdin.read())
torch.save(state if 'state' in dir() else m.state_dict(), '$1.pt')
x = torch.randn(shape)
torch.save(x, '$1.x.pt')
with torch.no_grad():
    torch.save(m(x), '$1.want.pt')"
}

# --- TimeSformer == the PyTorch reference (the authors' layout), each attention scheme ---
for scheme in divided joint space; do
  reference "ts_$scheme" <<PY
from timesformer_reference import VisionTransformer
m = VisionTransformer(img_size=32, patch=8, dim=32, depth=2, heads=2, num_frames=4, num_classes=9, attention="$scheme").eval()
state = {"model." + k: v for k, v in m.state_dict().items()}  # the authors' checkpoints wrap it in "model."
shape = (2, 3, 4, 32, 32)
PY
  expect 0 "" import --from timesformer --model timesformer_small --state-dict "ts_$scheme.pt" --out "ts_$scheme.ckpt" \
    --set attention=$scheme --set patch_size=8 --set width=32 --set depth=2 --set heads=2 --set num_frames=4
  same_logits "ts_$scheme" "ts_$scheme.ckpt"
done

# --- R(2+1)D-18 == torchvision's, imported from its state dict ---
reference r2plus1d <<'PY'
import torchvision
m = torchvision.models.video.r2plus1d_18(num_classes=9).eval()
for mod in m.modules():  # non-trivial running statistics, so that evaluation mode is checked
    if isinstance(mod, torch.nn.BatchNorm3d):
        mod.running_mean.uniform_(-0.2, 0.2), mod.running_var.uniform_(0.5, 1.5)
shape = (2, 3, 8, 32, 32)
print(sum(p.numel() for p in torchvision.models.video.r2plus1d_18().parameters()), file=open("r2plus1d.count", "w"))
PY
expect 0 "" import --from torchvision --model r2plus1d_18 --state-dict r2plus1d.pt --out r2plus1d.ckpt
same_logits r2plus1d r2plus1d.ckpt
check "r2plus1d_18: 31,505,325 parameters at 400 classes, as torchvision counts" test "$(cat r2plus1d.count)" = 31505325

# --- MViT v1 and v2 == torchvision's, at 4 frames of 64 px (torchvision's MViT takes any size) ---
for m in mvit_v1_b mvit_v2_s; do
  reference $m <<PY
import torchvision.models.video.mvit as M
build = M._mvit  # the builders fix 224 px and 16 frames
M._mvit = lambda **kw: build(**{**kw, "spatial_size": (64, 64), "temporal_size": 4})
m = M.$m(num_classes=9).eval()
shape = (2, 3, 4, 64, 64)
PY
  expect 0 "" import --from torchvision --model $m --state-dict $m.pt --out $m.ckpt --set input_size=64 --set num_frames=4
  same_logits $m $m.ckpt
done
expect 2 "invalid MViT input_size 48" import --from torchvision --model mvit_v2_s --state-dict mvit_v2_s.pt --out x.ckpt --set input_size=48

# --- learning: the class shows only across frames ---
# 180 steps each in the full mode (~50 s on 2 cores), 30 by default; chance is 1/9 = 11.1% on 180
# validation clips. Longer runs and the attention schemes compared: docs/RESULTS.md.
SMALL=(--set width=64 --set depth=2 --set heads=2)
COMMON=(--task video --synth-size 720 --batch-size 24 --workers 2 --epochs "$(budget 6 1)" --eval-every "$(budget 60 30)")
SMALL_CLIPS=(--set input_size=32 --set crop_pct=1 --set train_aug=none --set hflip=0)
expect 0 "" train "${COMMON[@]}" --model timesformer_small "${SMALL[@]}" --lr 3e-3 --out ts --json
cp out.txt ts_train.json
expect 0 "" train "${COMMON[@]}" --model timesformer_small "${SMALL[@]}" --lr 3e-3 --frames 1 --out one --json
cp out.txt one_train.json
expect 0 "" train "${COMMON[@]}" --model cnn_lstm "${SMALL_CLIPS[@]}" --set hidden=128 --out cnn_lstm --json
cp out.txt cnn_lstm_train.json
best() { json x 'd["best_metrics"]["top1"]' "$1"; }
learned "one frame of synth:motion stays at chance: best val top-1 $(best one_train.json)% < 20%" $PY -c "import sys; sys.exit(0 if $(best one_train.json) < 20 else 1)"
learned "timesformer_small (divided, 8 frames) learns the motions: $(best ts_train.json)% > 25%" $PY -c "import sys; sys.exit(0 if $(best ts_train.json) > 25 else 1)"
learned "cnn_lstm (resnet18 per frame, an LSTM over 8) learns them: $(best cnn_lstm_train.json)% > 22%" $PY -c "import sys; sys.exit(0 if $(best cnn_lstm_train.json) > 22 else 1)"
expect 0 "" eval --checkpoint ts/best.ckpt --json
check "eval of the best checkpoint reproduces training's best val top-1" test "$(json x 'd["metrics"]["top1"]' out.txt)" = "$(best ts_train.json)"
expect 0 "" eval --checkpoint ts/best.ckpt --data motion --json
check "synth:motion written as frame folders reads back: 64 clips" test "$(json x 'd["examples"]' out.txt)" = 64
learned "the frame folders' clips are recognised above chance: $(json x 'd["metrics"]["top1"]' out.txt)% > 20%" ge "$(json x 'd["metrics"]["top1"]' out.txt)" 20.001

# --- export: clips at any batch size, through Python and C++ ---
# export_parity CKPT NAME T SIDE: the TorchScript export of CKPT (Python's torch.jit.load and C++'s
# torch::jit::load) == the checkpoint on random clips (B, 3, T, SIDE, SIDE), B = 1 and 3.
export_parity() {
  expect 0 "" export --checkpoint "$1" --out "$2.pt"
  check "$2 export: TorchScript (Python and C++) == checkpoint at batch 1 and 3" $PY - "$LOGITS" "$@" <<'PY'
import subprocess, sys, torch
helper, ckpt, name, frames, side = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
scripted = torch.jit.load(name + ".pt")
for batch in (1, 3):
    x = torch.randn(batch, 3, frames, side, side)
    torch.save(x, "x.pt")
    subprocess.run([helper, "--checkpoint", ckpt, "x.pt", "eager.pt"], check=True)
    subprocess.run([helper, "--torchscript", name + ".pt", "x.pt", "cpp.pt"], check=True)
    eager, cpp = torch.load("eager.pt"), torch.load("cpp.pt")
    with torch.no_grad():
        python = scripted(x)
    assert eager.shape == (batch, 9), eager.shape
    assert (python - eager).abs().max() < 1e-4 and (cpp - eager).abs().max() < 1e-5, batch
PY
}
export_parity ts/best.ckpt ts 8 32
export_parity mvit_v2_s.ckpt mvit_v2_s 4 64
export_parity cnn_lstm/best.ckpt cnn_lstm 8 32
export_parity r2plus1d.ckpt r2plus1d 8 32

# --- predict and visualize one clip (a frame folder) ---
clip=$(ls -d motion/val/move_left/* | head -1)
expect 0 "" predict --checkpoint ts/best.ckpt --input "$clip" --json
check "predict names a class of synth:motion for a frame folder" $PY -c "
import json; d = json.load(open('out.txt')); assert d['predictions'][0]['top'][0]['class'] in ('blink', 'grow', 'move_down', 'move_left', 'move_right', 'move_up', 'shrink', 'turn_ccw', 'turn_cw')"
expect 0 "" visualize --checkpoint ts/best.ckpt --input "$clip" --out ts.png --query 12,20
check "timesformer visualize: temporal, spatial and rollout figures" test -s ts.png -a -s ts_spatial.png -a -s ts_rollout.png
check "ts.png: 8 frames in one row of 160-pixel tiles" $PY - ts.png <<'PY'
import sys
from PIL import Image
w, h = Image.open(sys.argv[1]).size
assert w >= 8 * 160 and 160 < h < 2 * 160 + 100, (w, h)
PY
expect 2 "invalid --query 40,3: the model's frames are 32x32 pixels" visualize --checkpoint ts/best.ckpt --input "$clip" --out x.png --query 40,3
expect 0 "" visualize --checkpoint ts_joint.ckpt --input "$clip" --out joint.png
expect 0 "" visualize --checkpoint mvit_v2_s.ckpt --input "$clip" --out mvit.png
check "mvit visualize: the class token's attention in each of the 4 stages, one row" $PY - mvit.png <<'PY'
import sys
from PIL import Image
w, h = Image.open(sys.argv[1]).size
assert w >= 4 * 160 and 160 < h < 2 * 160 + 100, (w, h)
PY
expect 2 "visualize is not available for r2plus1d_18" visualize --checkpoint r2plus1d.ckpt --input "$clip" --out x.png

# --- --init from a ViT's weights, as the paper starts TimeSformer ---
expect 0 "" train --task classify --model vit_tiny_patch4_32 --set layers=2 --set width=64 --set heads=2 --set mlp=256 --synth-size 64 \
  --batch-size 16 --steps 2 --out vit
expect 0 "" train --task video --model timesformer_small "${SMALL[@]}" --init vit/last.ckpt --synth-size 48 --batch-size 16 --steps 1 \
  --lr 1e-30 --out from_vit
"$ZOO_WEIGHTS" vit/last.ckpt > vit.weights && "$ZOO_WEIGHTS" from_vit/last.ckpt > from_vit.weights
crc() { awk -v n="$2" '$1 == n {print $4}' "$1"; }
check "--init from a ViT (lr 1e-30: no step changes a float32 weight): spatial and temporal attention both hold the ViT's attention, bit for bit" \
  test -n "$(crc vit.weights encoder.layers.encoder_layer_1.self_attention.in_proj_weight)" -a \
  "$(crc vit.weights encoder.layers.encoder_layer_1.self_attention.in_proj_weight)" = "$(crc from_vit.weights blocks.1.attn.qkv.weight)" -a \
  "$(crc vit.weights encoder.layers.encoder_layer_1.self_attention.in_proj_weight)" = "$(crc from_vit.weights blocks.1.temporal_attn.qkv.weight)" -a \
  "$(crc vit.weights encoder.layers.encoder_layer_0.mlp.3.weight)" = "$(crc from_vit.weights blocks.0.mlp.fc2.weight)" -a \
  "$(crc vit.weights conv_proj.weight)" = "$(crc from_vit.weights patch_embed.proj.weight)"
expect 0 "" train --task classify --model resnet18_cifar --synth-size 16 --batch-size 8 --steps 1 --out cnn
expect 2 "resnet18_cifar is not a ViT" train --task video --model timesformer_small "${SMALL[@]}" --init cnn/last.ckpt --synth-size 48 --steps 1 --out x
expect 2 "the checkpoint is vit_tiny_patch4_32, but this cnn_lstm's backbone is resnet18" \
  train --task video --model cnn_lstm "${SMALL_CLIPS[@]}" --init vit/last.ckpt --synth-size 48 --steps 1 --out x
expect 1 "r2plus1d.ckpt: unexpected tensor 'fc.bias'" train --task video --model timesformer_small "${SMALL[@]}" --init r2plus1d.ckpt --synth-size 48 --steps 1 --out x
expect 2 "--frames is for --task video" train --task classify --model resnet18_cifar --frames 4 --steps 1 --out x

# --- bad videos: one clear line, or left out with --bad-samples skip ---
mkdir -p bad/train bad/val
cp -r motion/train/* bad/train/ && cp -r motion/val/* bad/val/
printf 'not a video' > bad/train/grow/broken.mp4
mkdir -p bad/train/shrink/short && cp motion/train/shrink/$(ls motion/train/shrink | head -1)/0.png bad/train/shrink/short/
expect_last 1 "cannot read video .*broken.mp4" train --task video --model timesformer_small "${SMALL[@]}" --data bad --epochs 1 --batch-size 40 --out bad_fail
check "FFmpeg's own log stays off stderr (zoo's one line says why)" bash -c "! grep -v '^zoo train: error' err.txt | grep -qiE 'moov|invalid data|\\[mov|@ 0x'"
expect 0 "" train --task video --model timesformer_small "${SMALL[@]}" --data bad --epochs 1 --batch-size 8 --bad-samples skip --out bad_skip
check "--bad-samples skip: both bad clips are named in train.log" \
  bash -c "grep -q 'left out .*broken.mp4' bad_skip/train.log && grep -q 'left out .*short (.*has 1 frame, fewer than the clip' bad_skip/train.log"
expect 1 "video not found|no class folders|data not found" train --task video --model timesformer_small --data nowhere --steps 1 --out x

finish "cli_video"
