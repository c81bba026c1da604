#!/usr/bin/env bash
# End-to-end captioning: show_attend_tell and show_tell trained on synth:scenes (written to disk
# as a COCO root by `zoo data synth --kind scenes`), then eval (BLEU-1..4, CIDEr-D, ROUGE-L,
# pointing), eval --captions of a results file, predict, visualize, export and TorchScript in
# Python, tiny_coco as data, and bad input. About 2 minutes on 2 cores.
# Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch folder), ZOO_SHARED_DATA.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/caption
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# A small captioner that learns the scenes in a minute: a ResNet-18 trunk cut after layer2
# (8x8 locations of 64x64 images), narrow decoder, every word kept.
SMALL=(--set encoder=resnet18 --set encoder_stage=2 --set encoder_grid=0 --set input_size=64 --set embed=64 --set hidden=128
       --set min_count=1 --batch-size 32 --lr 1e-3 --workers 1)

expect 0 "" data synth --kind scenes --out scenes --n 1024 --image-size 64
check "synth scenes: a COCO root with captions and boxes" test -f scenes/annotations/captions_val2017.json -a -f scenes/annotations/instances_val2017.json
check "synth scenes: 256 validation images" test "$(ls scenes/val2017 | wc -l)" = 256

# --- train: attention over the scenes (the doubly stochastic penalty off: see docs/RESULTS.md) ---
expect 0 "" train --task caption --model show_attend_tell --data scenes "${SMALL[@]}" --set attention=64 --set doubly_stochastic=0 \
  --steps "$(budget 320 40)" --eval-every "$(budget 160 40)" --out sat --json
bleu4=$(json x 'd["best_metrics"]["bleu_4"]' out.txt)
pointing=$(json x 'd["best_metrics"]["pointing"]' out.txt)
echo "     show_attend_tell on synth:scenes val: BLEU-4 $bleu4, pointing $pointing"
learned "show_attend_tell reaches BLEU-4 0.35 on synth:scenes (got $bleu4)" ge "$bleu4" 0.35
# A shape's box covers about 8% of the image: attention that ignored it would point inside ~8% of the time.
learned "its attention points at the shape it names (got $pointing, chance about 0.08)" ge "$pointing" 0.2
expect 0 "" train --task caption --model show_tell --data scenes "${SMALL[@]}" --steps "$(budget 240 30)" --eval-every "$(budget 240 30)" --out st --json
st_bleu4=$(json x 'd["best_metrics"]["bleu_4"]' out.txt)
echo "     show_tell on synth:scenes val: BLEU-4 $st_bleu4"
learned "show_tell reaches BLEU-4 0.3 on synth:scenes (got $st_bleu4)" ge "$st_bleu4" 0.3
check "show_tell has no pointing metric (no attention)" test "$(json x '"pointing" in d["best_metrics"]' out.txt)" = False

# --- eval, and eval --captions of the same captions as a results file ---
expect 0 "" eval --checkpoint sat/best.ckpt --beam 1 --json
cp out.txt eval.json
check "eval --json has bleu_1..4, cider, rouge_l, pointing" test "$(json x '",".join(sorted(d["metrics"]))' eval.json)" = \
  "bleu_1,bleu_2,bleu_3,bleu_4,cider,pointing,rouge_l"
check "eval scores the 256 validation images" test "$(json x 'd["examples"]' eval.json)" = 256
val_images=(scenes/val2017/*.png)
expect 0 "" predict --checkpoint sat/best.ckpt --beam 1 --input "${val_images[@]}" --json
$PY - out.txt results.json <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
json.dump([{"image_id": int(os.path.basename(p["input"])[:-4]), "caption": p["output"]} for p in d["predictions"]], open(sys.argv[2], "w"))
PY
expect 0 "" eval --task caption --data scenes --captions results.json --json
check "eval --captions scores zoo's own captions exactly as eval does" $PY -c "
import json, sys
a, b = json.load(open('eval.json'))['metrics'], json.load(open('out.txt'))['metrics']
sys.exit(0 if all(abs(a[k] - b[k]) < 1e-9 for k in b) and len(b) == 6 else 1)"

# --- predict, visualize ---
expect 0 "" predict --checkpoint sat/best.ckpt --input scenes/val2017/000000000000.png scenes/val2017/000000000001.png
check "predict prints a caption per image" test "$(grep -c . out.txt)" = 2
expect 0 "" predict --checkpoint sat/best.ckpt --beam 1 --input "${val_images[@]:0:4}"
cp out.txt greedy.txt
expect 0 "" predict --checkpoint sat/best.ckpt --beam 1 --batch-size 1 --input "${val_images[@]:0:4}"
check "captions do not depend on the batch" cmp -s out.txt greedy.txt
expect 0 "wrote" visualize --checkpoint sat/best.ckpt --input scenes/val2017/000000000001.png --out words.png
check "visualize writes one panel per word" test -s words.png
expect 2 "no attention" visualize --checkpoint st/best.ckpt --input scenes/val2017/000000000001.png --out st.png

# --- export: TorchScript from Python, greedy captions equal zoo's ---
expect 0 "" export --checkpoint sat/best.ckpt --out sat.pt
check "Python runs the exported encode/decode_step and writes zoo's greedy captions" $PY "$CLI_DIR/caption_torchscript.py" sat.pt greedy.txt "${val_images[@]:0:4}"
expect 0 "" predict --torchscript sat.pt --beam 1 --input "${val_images[@]:0:4}"
check "predict --torchscript writes the same captions" cmp -s out.txt greedy.txt
expect 0 "" export --checkpoint st/best.ckpt --out st.pt
check "Show and Tell exports too (no attention)" $PY "$CLI_DIR/caption_torchscript.py" st.pt <("$ZOO" predict --checkpoint st/best.ckpt --beam 1 --input "${val_images[@]:0:4}") "${val_images[@]:0:4}"

# --- encoder fine-tuning: the trunk frozen in epoch 1, trained from epoch 2 at its own rate ---
expect 0 "" train --task caption --model show_tell --data synth:scenes --synth-size 64 "${SMALL[@]}" --set fine_tune_from=2 \
  --set encoder_lr=1e-5 --epochs 2 --save-every-steps 1 --keep-last 4 --out tune
check "fine_tune_from: the log says when the encoder starts training" grep -q "epoch 2: the encoder trains from now on" tune/train.log
# A checkpoint is a LibTorch archive: Python's torch.jit.load reads its weights.
check "fine_tune_from=2 encoder_lr=1e-5: the trunk (BatchNorm statistics too) is fixed in epoch 1, then moves by Adam steps of at most 1e-5" \
  $PY - tune/checkpoints/step-0000000{1,2,4}.ckpt <<'PY'
import sys
import torch
a, b, c = (torch.jit.load(p).weights for p in sys.argv[1:])
trunk = [k for k in a if k.startswith("encoder.")]
moved = lambda x, y, keys: max((x[k].double() - y[k].double()).abs().max().item() for k in keys)
convs = [k for k in trunk if k.endswith("conv1.weight") or k.endswith("conv2.weight")]
decoder = [k for k in a if not k.startswith("encoder.")]
print("     trunk moved in epoch 1:", moved(a, b, trunk), "in epoch 2:", moved(b, c, convs), "decoder in epoch 1:", moved(a, b, decoder))
# Two Adam steps at a rate of at most 1e-5 move a weight by at most about 2e-5; the decoder's 1e-3 by far more.
sys.exit(0 if len(trunk) > 20 and moved(a, b, trunk) == 0 and 0 < moved(b, c, convs) <= 2.5e-5 and moved(a, b, decoder) > 1e-4 else 1)
PY

# --- real data: tiny_coco's 45 training and 5 held-out images. A captioner that can learn
# reproduces its training captions (the references it was trained on) ---
expect 0 "" train --task caption --model show_attend_tell --data "$ZOO_SHARED_DATA/tiny_coco" "${SMALL[@]}" --set input_size=32 --set embed=128 \
  --set hidden=256 --set attention=64 --set doubly_stochastic=0 --set dropout=0 --batch-size 45 --lr 4e-3 --steps "$(budget 160 10)" --eval-every "$(budget 160 10)" --out coco --json
check "tiny_coco: trains and evaluates on its held-out images" test "$(json x '"cider" in d["metrics"]' out.txt)" = True
expect 0 "" eval --checkpoint coco/last.ckpt --split train --beam 1 --json
coco_bleu4=$(json x 'd["metrics"]["bleu_4"]' out.txt)
echo "     show_attend_tell on tiny_coco's 45 training images: BLEU-4 $coco_bleu4"
learned "it reproduces tiny_coco's training captions: BLEU-4 on train above 0.9 (got $coco_bleu4)" ge "$coco_bleu4" 0.9

# --- bench: the issue's model (frozen ResNet-50 trunk, 14x14 locations, decoder 512, 10,000 words), one step ---
expect 0 "" bench --config sat_soft --warmup 0 --steps 1 --json
check "sat_soft benchmarks torchvision's ResNet-50 trunk and the decoder (44,775,762 parameters, 21,267,730 trained), as benchmarks/pytorch_sat_soft.py" \
  test "$(json x 'd["params"] == 44775762 and d["trainable"] == 21267730 and d["unit"] == "images" and d["per_s"] > 0' out.txt)" = True

# --- bad input ---
mkdir -p broken/annotations broken/train2017
cp scenes/train2017/000000000000.png broken/train2017/
echo '{"images": [{"id": 0, "file_name": "000000000000.png"}, {"id": 1, "file_name": "gone.png"}], "annotations": [{"image_id": 0, "caption": "a cat"}, {"image_id": 1, "caption": "a dog"}]}' > broken/annotations/captions_train2017.json
expect 1 "image file not found: .*gone.png" train --task caption --model show_tell --data broken "${SMALL[@]}" --steps 1 --out b1
echo '{"images": [{"id": 0, "file_name": "000000000000.png"}], "annotations": [{"image_id": 7, "caption": "a cat"}]}' > broken/annotations/captions_train2017.json
expect 1 "annotations\[0\] refers to image_id 7" train --task caption --model show_tell --data broken "${SMALL[@]}" --steps 1 --out b2
echo '[{"image_id": 123456, "caption": "a cat"}]' > unknown.json
expect 1 "image_id 123456 is not in the val split" eval --task caption --data scenes --captions unknown.json
expect 2 "needs --task caption" eval --data scenes --captions results.json
expect 2 "invalid encoder_stage=4 for vgg16" train --task caption --model show_tell --set encoder=vgg16 --set encoder_stage=4 --steps 1 --out b3
expect 2 "freeze_encoder=true keeps the trunk fixed for the whole run" train --task caption --model show_tell --set freeze_encoder=true \
  --set fine_tune_from=2 --steps 1 --out b5
expect 2 "invalid --max-len -1" train --task caption --model show_tell --max-len -1 --steps 1 --out b4
expect 1 "cannot read image" predict --checkpoint sat/best.ckpt --input missing.png

finish caption
