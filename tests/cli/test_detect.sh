#!/usr/bin/env bash
# End-to-end detection: synth:boxes written as a COCO root; eval --detections of results files
# (perfect, shifted, unknown image) on it and on tiny_coco's real annotations (crowd regions);
# detr_resnet18_small trained on synth:boxes to a stated AP50; eval, predict (JSON, results
# file, drawn boxes), visualize, export and the TorchScript file in C++ (zoo predict) and
# Python; bad annotations; import errors. About 2 minutes on 2 cores.
# Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch folder), ZOO_SHARED_DATA.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/detect
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
COCO=${ZOO_SHARED_DATA:-$CLI_DIR/../../../shared/data}/tiny_coco

# --- synth:boxes as a COCO root ---
expect 0 "" data synth --kind boxes --out boxes --n 512 --image-size 64
check "synth boxes: a COCO root with instances" test -f boxes/annotations/instances_train2017.json -a -f boxes/annotations/instances_val2017.json
check "synth boxes: 128 validation images" test "$(ls boxes/val2017 | wc -l)" = 128
check "synth boxes: category ids with gaps, every annotation with an area" $PY -c "
import json, sys
d = json.load(open('boxes/annotations/instances_val2017.json'))
sys.exit(0 if [c['id'] for c in d['categories']] == [1, 3, 5, 7, 9, 11] and all(a['area'] > 0 for a in d['annotations']) else 1)"

# --- eval --detections: results files scored as pycocotools scores them ---
# perfect.json: every non-crowd object as a detection; shifted.json: the same boxes moved right by
# 30% of their width (IoU 0.54: found at IoU 0.5, missed from 0.55 on).
$PY - boxes/annotations/instances_val2017.json perfect.json shifted.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
anns = [a for a in d["annotations"] if not a.get("iscrowd")]
perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9} for a in anns]
shifted = [dict(p, bbox=[p["bbox"][0] + 0.3 * p["bbox"][2]] + p["bbox"][1:]) for p in perfect]
json.dump(perfect, open(sys.argv[2], "w"))
json.dump(shifted, open(sys.argv[3], "w"))
PY
expect 0 "" eval --task detect --data boxes --detections perfect.json --json
check "eval --json has the twelve COCO numbers" test "$(json x '",".join(sorted(d["metrics"]))' out.txt)" = \
  "ap,ap50,ap75,ap_large,ap_medium,ap_small,ar1,ar10,ar100,ar_large,ar_medium,ar_small"
check "perfect detections score AP 1" test "$(json x 'd["metrics"]["ap"]' out.txt)" = 1.0
expect 0 "" eval --task detect --data boxes --detections shifted.json --json
check "boxes at IoU 0.54 score AP50 1 and AP75 0 (AP 0.1)" test "$(json x '(d["metrics"]["ap50"], d["metrics"]["ap75"], round(d["metrics"]["ap"], 9))' out.txt)" = "(1.0, 0.0, 0.1)"
# tiny_coco's real annotations (5 crowd regions among 470 boxes), all 50 images as the val split.
mkdir -p coco/annotations && ln -s "$COCO/train2017" coco/val2017 && ln -s "$COCO/annotations/instances_train2017.json" coco/annotations/instances_val2017.json
$PY - "$COCO/annotations/instances_train2017.json" coco_perfect.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
json.dump([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0} for a in d["annotations"]
           if not a["iscrowd"]], open(sys.argv[2], "w"))
PY
expect 0 "" eval --task detect --data coco --detections coco_perfect.json --json
check "tiny_coco: its own non-crowd boxes score AP 1 over 50 images (crowds ignored)" test "$(json x '(d["metrics"]["ap"], d["examples"])' out.txt)" = "(1.0, 50)"
echo '[{"image_id": 424242, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]' > stranger.json
expect 1 "image_id 424242 is not in the val split" eval --task detect --data boxes --detections stranger.json
echo '[{"image_id": 0, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}]' > short.json
expect 1 "short.json: \[0\]: \"bbox\" is not" eval --task detect --data boxes --detections short.json
expect 2 "needs --task detect" eval --data boxes --detections perfect.json

# --- train: detr_resnet18_small learns its training scenes (DETR needs hundreds of epochs to
# generalise; docs/RESULTS.md has the held-out numbers of a longer run) ---
FIT=(--synth-size 64 --batch-size 8 --workers 1 --set multi_scale=false --set random_crop=false)
expect 0 "" train --task detect --model detr_resnet18_small "${FIT[@]}" --steps "$(budget 300 20)" --eval-every "$(budget 300 20)" --out fit --json
expect 0 "" eval --checkpoint fit/last.ckpt --split train --json
fit_ap50=$(json x 'd["metrics"]["ap50"]' out.txt)
echo "     detr_resnet18_small, $(budget 300 20) steps on 64 synth:boxes images: AP50 $fit_ap50 on them"
learned "it fits its 64 training scenes to AP50 0.05 (got $fit_ap50; an untrained model scores about 0.001)" ge "$fit_ap50" 0.05
expect 0 "" eval --checkpoint fit/last.ckpt --json
check "eval scores the 64 validation images" test "$(json x 'd["examples"]' out.txt)" = 64

# --- predict: JSON, a COCO results file that eval --detections scores as eval does, drawn boxes ---
expect 0 "" data synth --kind boxes --out scenes --n 64 --image-size 128
val_images=(scenes/val2017/*.png)
expect 0 "" predict --checkpoint fit/last.ckpt --threshold 0 --input "${val_images[@]}" --results all.json --json
check "predict --threshold 0 lists all 10 queries of an image" test "$(json x 'len(d["predictions"][0]["detections"])' out.txt)" = 10
expect 0 "" eval --checkpoint fit/last.ckpt --data scenes --json
cp out.txt eval.json
expect 0 "" eval --task detect --data scenes --detections all.json --json
check "eval --detections of predict's results file gives eval's numbers" $PY -c "
import json, sys
a, b = json.load(open('eval.json'))['metrics'], json.load(open('out.txt'))['metrics']
sys.exit(0 if all(abs(a[k] - b[k]) < 1e-6 for k in a) and len(a) == 12 else 1)"
expect 0 "" predict --checkpoint fit/last.ckpt --threshold 0.2 --input "${val_images[0]}" --out drawn.png
check "predict --out draws the boxes into a PNG of the image's size" $PY -c "
import struct, sys
b = open('drawn.png', 'rb').read(24)
sys.exit(0 if b[:8] == b'\x89PNG\r\n\x1a\n' and struct.unpack('>II', b[16:24]) == (128, 128) else 1)"

# --- visualize: each object's query attention, the encoder's at a point, the boxes ---
expect 0 "" visualize --checkpoint fit/last.ckpt --input "${val_images[0]}" --query 40,60 --out look.png
check "visualize writes look.png, look_encoder.png and look_boxes.png" test -s look.png -a -s look_encoder.png -a -s look_boxes.png
expect 2 "invalid --query 500,10" visualize --checkpoint fit/last.ckpt --input "${val_images[0]}" --query 500,10 --out look.png

# --- export: any batch and image size, in C++ (zoo predict --torchscript) and in Python ---
expect 0 "" export --checkpoint fit/last.ckpt --out detr.pt
expect 0 "" predict --checkpoint fit/last.ckpt --threshold 0 --input "${val_images[@]:0:3}" --json
cp out.txt from_checkpoint.json
expect 0 "" predict --torchscript detr.pt --threshold 0 --input "${val_images[@]:0:3}" --json
check "the TorchScript file detects what the checkpoint detects (C++)" $PY -c "
import json, sys
a, b = json.load(open('from_checkpoint.json'))['predictions'], json.load(open('out.txt'))['predictions']
worst = max(abs(x - y) for p, q in zip(a, b) for d, e in zip(p['detections'], q['detections']) for x, y in zip(d['bbox'] + [d['score']], e['bbox'] + [e['score']]))
sys.exit(0 if len(a) == 3 and worst < 1e-3 else 1)"
check "Python's torch.jit.load runs it at batch 3 and 96x160: (3, 10, 7) logits, (3, 10, 4) boxes in [0, 1]" $PY -c "
import torch, sys
m = torch.jit.load('detr.pt')
logits, boxes = m(torch.randn(3, 3, 96, 160))
sys.exit(0 if logits.shape == (3, 10, 7) and boxes.shape == (3, 10, 4) and 0 <= boxes.min() and boxes.max() <= 1 else 1)"

# --- bad annotations: one line naming the entry, or skipped and counted ---
cp -r scenes broken
$PY - broken/annotations/instances_train2017.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["annotations"][3]["bbox"] = [120, 10, 40, 20]      # reaches 32 pixels past the 128-pixel image
d["annotations"][5]["bbox"][2] = 0                    # zero width
d["annotations"][7]["category_id"] = 4                # not a category of the file
d["annotations"][9]["image_id"] = 99999               # no such image
json.dump(d, open(sys.argv[1], "w"))
PY
expect 1 "annotations\[3\]: box \[120, 10, 40, 20\] lies outside its 128x128 image" train --task detect --model detr_resnet18_small --data broken \
  --steps 1 --out broken_run
check "nothing of the failed run looks complete" test ! -e broken_run/last.ckpt
expect 0 "" train --task detect --model detr_resnet18_small --data broken --bad-samples skip --steps 2 --batch-size 4 --eval-every 2 --out skipped
check "with --bad-samples skip the log lists the 4 annotations left out" test "$(grep -c 'left out .*(bad annotation)' skipped/train.log)" = 4
rm broken/val2017/000000000003.png
expect 1 "image file not found: .*val2017/000000000003.png" train --task detect --model detr_resnet18_small --data broken --bad-samples skip --steps 1 --out missing

# --- import: DETR's state dicts into detectors only ---
expect 2 "--from detr imports detect models; resnet18 is a classify model" import --from detr --model resnet18 --state-dict detr.pt --out x.ckpt
expect 2 "unknown task 'detection'" train --task detection --model detr_resnet18_small

finish "detect"
