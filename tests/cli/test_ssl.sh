#!/usr/bin/env bash
# End-to-end self-supervised learning: BYOL and DINO train on synth:shapes with k-NN evaluation in
# the log; eval --json; predict (k-NN vote, nearest training images); export of the backbone and
# its parity in Python at another batch size; DINO's attention figure; the linear probe from an
# ssl checkpoint (backbone bit for bit, frozen; head trained); bad options and --init mismatches.
# Environment (set by ctest): ZOO, ZOO_WORK, ZOO_LOGITS, ZOO_WEIGHTS.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/ssl
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LOGITS=${ZOO_LOGITS:?path of the zoo_logits helper}
WEIGHTS=${ZOO_WEIGHTS:?path of the zoo_weights helper}

# --- training: both methods, their logs, their metrics ---
SMALL_DINO=(--set method=dino --set out_dim=256 --set head_hidden=128 --set head_bottleneck=64 --set local_crops=2
            --set layers=2 --set width=64 --set heads=2 --set mlp=128)
expect 0 "" train --task ssl --model vit_tiny_patch4_32 "${SMALL_DINO[@]}" --synth-size 192 --batch-size 32 --epochs 2 --threads 2 --out dino
check "dino: the last layer frozen in epoch 1, trained from epoch 2" grep -q "the head's last layer trains from now on" dino/train.log
check "dino: k-NN at k=20 and k=200 and the collapse watch in the log" grep -qE "eval step [0-9]+: embedding_std [0-9.]+ knn_top1_k20 [0-9.]+ knn_top1_k200" dino/train.log
check "dino: no collapse warning at the default momentum" bash -c '! grep -q "may be collapsing" dino/train.log'
# The collapse watch: a teacher that follows the student at momentum 0.5 collapses within 40 steps.
expect 0 "" train --task ssl --model vit_tiny_patch4_32 "${SMALL_DINO[@]}" --set momentum=0.5 --synth-size 256 --batch-size 32 --steps 40 \
  --threads 2 --out collapse
check "collapse watch: the log warns ($(grep -m1 -o 'std of the normalised projections is [0-9.e-]*' collapse/train.log))" \
  grep -q "warning: the representation may be collapsing" collapse/train.log
expect 0 "" eval --checkpoint dino/last.ckpt --json
check "eval --json: embedding_std, knn_top1_k20, knn_top1_k200" test "$(json x '",".join(sorted(d["metrics"]))' out.txt)" = "embedding_std,knn_top1_k20,knn_top1_k200"
check "eval: percentages" $PY -c "import json,sys; m=json.load(open('out.txt'))['metrics']; sys.exit(0 if all(0 <= m[k] <= 100 for k in ('knn_top1_k20','knn_top1_k200')) else 1)"

expect 0 "" train --task ssl --model resnet18_cifar --set method=byol --set projector_hidden=128 --set projector_dim=32 --synth-size 64 \
  --batch-size 16 --steps 4 --threads 2 --out byol
check "byol: trained 4 steps with k-NN at the end" grep -qE "eval step 4: embedding_std" byol/train.log

# --- predict: the k-NN vote and the nearest training images ---
expect 0 "" data synth --kind shapes --out shapes --n 16 --image-size 32
IMAGE=$(ls shapes/val/circle/* | head -1)
expect 0 "" predict --checkpoint dino/last.ckpt --input "$IMAGE" --topk 3 --json
check "predict: 3 classes by vote share summing to at most 1, 5 neighbours with their files" $PY -c "
import json, sys
p = json.load(open('out.txt'))['predictions'][0]
shares = [t['prob'] for t in p['top']]
ok = len(shares) == 3 and shares == sorted(shares, reverse=True) and sum(shares) <= 1 + 1e-6
ok = ok and len(p['neighbours']) == 5 and all(n['file'].startswith('synth:shapes#') for n in p['neighbours'])
sims = [n['similarity'] for n in p['neighbours']]
sys.exit(0 if ok and sims == sorted(sims, reverse=True) and all(-1 <= s <= 1.0001 for s in sims) else 1)"

# --- export: the evaluated backbone (DINO's teacher) as a feature extractor, any batch ---
expect 0 "" export --checkpoint dino/last.ckpt --out dino.pt
$PY -c "import torch; torch.manual_seed(1); torch.save(torch.randn(3, 3, 32, 32), 'images.pt')"
"$LOGITS" --checkpoint dino/last.ckpt images.pt from_checkpoint.pt && "$LOGITS" --torchscript dino.pt images.pt from_export.pt
check "export: the TorchScript file in Python gives the checkpoint's embeddings at batch 3 (traced at 2)" $PY -c "
import torch, sys
x = torch.load('images.pt'); m = torch.jit.load('dino.pt'); m.eval()
a, b, c = m(x), torch.load('from_checkpoint.pt'), torch.load('from_export.pt')
sys.exit(0 if a.shape == (3, 64) and torch.allclose(a, b, atol=1e-5) and torch.allclose(b, c, atol=1e-5) else 1)"

# --- visualize: DINO's figure ---
expect 0 "" visualize --checkpoint dino/last.ckpt --input "$IMAGE" --out attention.png
check "visualize: a PNG of the heads' attention and their 60% masks" $PY -c "
import struct, sys
b = open('attention.png', 'rb').read(24)
w, h = struct.unpack('>II', b[16:24])
sys.exit(0 if b[:8] == b'\x89PNG\r\n\x1a\n' and w > 200 and h > 200 else 1)"

# --- the linear probe: the ssl backbone, frozen; a new head ---
expect 0 "" train --task classify --model vit_tiny_patch4_32 --set layers=2 --set width=64 --set heads=2 --set mlp=128 \
  --init dino/last.ckpt --set freeze_backbone=true --synth-size 64 --batch-size 16 --steps 3 --threads 2 --out probe
"$WEIGHTS" dino/last.ckpt | awk '$1 ~ /^teacher\.backbone\./ {sub(/^teacher\.backbone\./, "", $1); print}' | sort > ssl_backbone.txt
"$WEIGHTS" probe/last.ckpt | awk 'NR > 1 && $1 !~ /^heads\./' | sort > probe_backbone.txt
check "probe: every backbone tensor is the ssl teacher's, bit for bit ($(wc -l < ssl_backbone.txt) tensors)" \
  bash -c '[[ -s ssl_backbone.txt ]] && diff -q ssl_backbone.txt probe_backbone.txt'
"$WEIGHTS" probe/last.ckpt | awk '$1 ~ /^heads\./' > head_after.txt
expect 0 "" train --task classify --model vit_tiny_patch4_32 --set layers=2 --set width=64 --set heads=2 --set mlp=128 \
  --init dino/last.ckpt --set freeze_backbone=true --synth-size 64 --batch-size 16 --steps 1 --lr 1e-9 --threads 2 --out probe0
"$WEIGHTS" probe0/last.ckpt | awk '$1 ~ /^heads\./' > head_start.txt
check "probe: the head trains" bash -c '! diff -q head_start.txt head_after.txt > /dev/null'
check "probe: the log names the ssl checkpoint" grep -q "initialised from .*dino/last.ckpt" probe/train.log

# --- bench: the same models as the PyTorch twins (benchmarks/pytorch_byol.py, pytorch_dino.py) ---
expect 0 "" bench --config dino_vit_tiny,byol_r18 --warmup 0 --steps 1 --threads 2 --json
check "bench: dino_vit_tiny and byol_r18 count 17,720,960 and 30,763,904 parameters (both networks), as their twins" \
  test "$($PY -c "import json; print(','.join(str(json.loads(l)['params']) for l in open('out.txt')))")" = "17720960,30763904"

# --- bad input: one line, the usage exit code ---
expect 2 "method" train --task ssl --model resnet18_cifar --set method=simclr --steps 1 --out bad
expect 2 "set method=dino" train --task ssl --model resnet18_cifar --set local_crops=2 --steps 1 --out bad
expect 2 "for task lm, not ssl" train --task ssl --model gpt_mini --steps 1 --out bad
expect 2 "backbone is vit_tiny_patch4_32, not resnet18_cifar" train --task classify --model resnet18_cifar --init dino/last.ckpt --steps 1 \
  --synth-size 32 --out bad
expect 2 "k-NN looks up the val or test images" eval --checkpoint dino/last.ckpt --split train
expect 2 "does not split" train --task ssl --model resnet18_cifar --accum-steps 2 --steps 1 --out bad

finish "ssl"
