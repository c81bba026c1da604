#!/usr/bin/env bash
# End-to-end CLIP: the tokenizer's released ids; clip_small (with the training captions' words)
# trained on synth:scenes to stated retrieval and zero-shot numbers; gradient caching giving the
# same losses as the whole batch; eval on a TSV of image<TAB>caption lines; predict --labels;
# export and the TorchScript file in Python; visualize (attention, similarity matrix); zoo data
# tokenize with a checkpoint; bad TSVs, templates and state dicts. About 2 minutes on 2 cores.
# Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch folder), ZOO_SHARED_DATA.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/clip
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export ZOO_SHARED_DATA=${ZOO_SHARED_DATA:-$CLI_DIR/../../../shared/data}

# --- CLIP's tokenizer: the released ids ---
expect 0 "" data tokenize --tokenizer clip --text "a photo of a dog." --text "Hello, World!" --text "a diagram"
check "tokenize: the released tokenizer's ids, one line per text" test "$(cat out.txt | tr '\n' '|')" = "320 1125 539 320 1929 269|3306 267 1002 256|320 22697|"
expect 2 "tokenizer" data tokenize --tokenizer gpt2 --text hi
expect 2 "exactly one" data tokenize --text hi
expect 2 "bpe_missing.gz" data tokenize --tokenizer clip --bpe bpe_missing.gz --text hi

# --- training on synth:scenes: retrieval and zero-shot above chance ---
# 1024 training scenes, 256 held out (about 90 of them with a single shape: the zero-shot set,
# whose classes are the 36 colour-and-kind names, "red circle", ..., with synth:scenes' templates).
TRAIN=(train --task clip --model clip_small --set tokenizer=word --synth-size 1024 --batch-size 64 --threads 2)
expect 0 "" "${TRAIN[@]}" --steps "$(budget 240 20)" --eval-every "$(budget 240 20)" --out run
check "train: a run folder with best.ckpt" test -f run/best.ckpt
expect 0 "" eval --checkpoint run/best.ckpt --json
check "eval --json: recall both ways at 1, 5, 10 and their mean" test "$(json x '",".join(sorted(d["metrics"]))' out.txt)" = \
  "image_to_text_r1,image_to_text_r10,image_to_text_r5,mean_recall,text_to_image_r1,text_to_image_r10,text_to_image_r5"
# Chance: R@1 of an image among 256 is 0.4%, of a caption 5 x that; R@10 4%.
r1=$(json x 'd["metrics"]["image_to_text_r1"]' out.txt)
learned "image->text R@1 $r1% >= 8% (chance 2%)" ge "$r1" 8
r10=$(json x 'd["metrics"]["text_to_image_r10"]' out.txt)
learned "text->image R@10 $r10% >= 25% (chance 4%)" ge "$r10" 25
expect 0 "" eval --checkpoint run/best.ckpt --zero-shot --json
zs=$(json x 'd["metrics"]["top1"]' out.txt)
learned "zero-shot on single-shape scenes by colour and kind: top-1 $zs% >= 12% (36 classes, chance 2.8%; $(json x 'd["examples"]' out.txt) scenes)" ge "$zs" 12
printf 'a photo of a {}.\n{} in a picture\n' > templates.txt
expect 0 "" eval --checkpoint run/best.ckpt --zero-shot --templates templates.txt --json
check "zero-shot with a template file: top-5 is at least top-1" $PY -c "
import json, sys; m = json.load(open('out.txt'))['metrics']; sys.exit(0 if m['top5'] >= m['top1'] else 1)"
learned "zero-shot with a template file: above chance" $PY -c "
import json, sys; m = json.load(open('out.txt'))['metrics']; sys.exit(0 if m['top1'] > 0 else 1)"
printf 'a photo\n' > no_slot.txt
expect 2 "no_slot.txt:1: a template needs \{\}" eval --checkpoint run/best.ckpt --zero-shot --templates no_slot.txt

# --- gradient caching: the whole batch's loss and gradients, chunk by chunk ---
expect 0 "" "${TRAIN[@]}" --steps 3 --eval-every 0 --out whole
expect 0 "" "${TRAIN[@]}" --steps 3 --eval-every 0 --out cached --set grad_cache=true --set grad_cache_chunk=24
losses() { grep -oE 'step [0-9]+/3 loss [0-9.]+' "$1/train.log" | awk '{print $4}' | tr '\n' ' '; }
check "grad_cache: the three steps' losses equal the whole batch's ($(losses whole)/ $(losses cached))" test "$(losses whole)" = "$(losses cached)"

# --- a TSV of image<TAB>caption lines ---
expect 0 "" data synth --kind scenes --out scenes --n 64 --image-size 32
$PY - scenes/annotations/captions_val2017.json scenes/val2017 pairs.tsv <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
files = {i["id"]: os.path.join(os.path.abspath(sys.argv[2]), i["file_name"]) for i in d["images"]}
with open(sys.argv[3], "w") as f:
    f.write("image\tcaption\n")
    for a in d["annotations"]:
        f.write(f"{files[a['image_id']]}\t{a['caption']}\n")
PY
expect 0 "" eval --checkpoint run/best.ckpt --data pairs.tsv --json
check "eval on a TSV: its held-out 10% of 64 scenes, five captions each" test "$(json x '(d["examples"], d["metrics"]["mean_recall"] > 0)' out.txt)" = "(6, True)"
printf 'x.png a caption without a tab\n' > bad.tsv
expect 1 "bad.tsv:1: expected IMAGE<TAB>CAPTION" eval --checkpoint run/best.ckpt --data bad.tsv
printf 'missing.png\ta caption\nalso_missing.png\tanother\n' > missing.tsv
expect 1 "missing.png" eval --checkpoint run/best.ckpt --data missing.tsv --split train

# --- predict, visualize, tokenize with the model's tokenizer ---
img=$(ls scenes/val2017 | head -1)
expect 0 "" predict --checkpoint run/best.ckpt --input "scenes/val2017/$img" --labels "a circle,a square,a triangle" --json
check "predict --labels: three probabilities summing to 1, most likely first" $PY -c "
import json, sys
top = json.load(open('out.txt'))['predictions'][0]['top']
p = [t['prob'] for t in top]
sys.exit(0 if len(p) == 3 and abs(sum(p) - 1) < 1e-5 and p == sorted(p, reverse=True) else 1)"
expect 2 "labels" predict --checkpoint run/best.ckpt --input "scenes/val2017/$img"
expect 0 "" visualize --checkpoint run/best.ckpt --input "scenes/val2017/$img" --out attention.png
check "visualize an image: the class token's attention" test -s attention.png
expect 0 "" visualize --checkpoint run/best.ckpt --input synth:scenes --out similarity.png
check "visualize a caption set: the similarity matrix" $PY -c "
import struct, sys
head = open('similarity.png', 'rb').read(24)
w, h = struct.unpack('>II', head[16:24])
sys.exit(0 if head[:8] == b'\x89PNG\r\n\x1a\n' and w > 8 * 72 and h > 8 * 72 else 1)"
expect 0 "" data tokenize --checkpoint run/best.ckpt --text "a red circle" --text "a zebra"
check "tokenize --checkpoint: the word vocabulary's ids (<unk> 1 for an unseen word)" $PY -c "
import sys
lines = open('out.txt').read().split('\n')
a, b = lines[0].split(), lines[1].split()
sys.exit(0 if len(a) == 3 and all(int(t) > 3 for t in a) and b[1] == '1' else 1)"

# --- export: encode_image and encode_text at any batch, in Python ---
expect 0 "" export --checkpoint run/best.ckpt --out clip.pt
check "export: Python runs encode_image and encode_text at batch sizes 1 and 5" $PY -c "
import torch, json
m = torch.jit.load('clip.pt')
files = {'zoo.json': ''}
torch.jit.load('clip.pt', _extra_files=files)
context = json.loads(files['zoo.json'])['model_options']['context_length']
for n in (1, 5):
    tokens = torch.zeros(n, context, dtype=torch.long)
    tokens[:, 0], tokens[:, 1], tokens[:, 2] = 2, 5, 3
    assert m.encode_image(torch.randn(n, 3, 32, 32)).shape == (n, 128)
    assert m.encode_text(tokens).shape == (n, 128)
"
expect 0 "" predict --checkpoint run/best.ckpt --input "scenes/val2017/$img" --labels "a red circle,a blue square" --json
mv out.txt from_checkpoint.json
expect 0 "" predict --torchscript clip.pt --input "scenes/val2017/$img" --labels "a red circle,a blue square" --json
check "predict through the export (C++ torch::jit) gives the checkpoint's probabilities" $PY -c "
import json, sys
a = json.load(open('from_checkpoint.json'))['predictions'][0]['top']
b = json.load(open('out.txt'))['predictions'][0]['top']
sys.exit(0 if [t['class'] for t in a] == [t['class'] for t in b] and all(abs(x['prob'] - y['prob']) < 1e-4 for x, y in zip(a, b)) else 1)"

# --- import: what is not a CLIP state dict ---
$PY -c "import torch; torch.save({'fc.weight': torch.zeros(2, 2)}, 'not_clip.pt')"
expect 1 "not a CLIP state dict" import --from clip --model clip_small --state-dict not_clip.pt --out x.ckpt
expect 2 "invalid --from 'openclip': expected torchvision, detr, clip, timesformer, crnn, bert or safetensors" import --from openclip --model clip_small --state-dict not_clip.pt --out x.ckpt

finish "clip"
