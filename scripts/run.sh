#!/usr/bin/env bash
# The two-minute tour: installs, builds, trains a classifier on the built-in synthetic shapes,
# evaluates it, exports TorchScript and predicts with the exported file.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh > /dev/null
zoo=${ZOO_BUILD_DIR:-build}/zoo
run=runs/demo
rm -rf "$run"

echo "== train resnet18_cifar on synth:shapes (32x32, 6 classes)"
"$zoo" train --task classify --model resnet18_cifar --data synth:shapes --synth-size 1536 --epochs 4 \
  --batch-size 64 --lr 0.05 --out "$run"
echo "== evaluate"
"$zoo" eval --checkpoint "$run/best.ckpt"
echo "== export TorchScript"
"$zoo" export --checkpoint "$run/best.ckpt" --out "$run/model.pt"
echo "== predict with the exported file"
"$zoo" data synth --kind shapes --out "$run/samples" --n 6 --image-size 32 --seed 7 > /dev/null
inputs=()
for class in circle square star; do inputs+=("$(ls "$run/samples/val/$class"/*.png | head -1)"); done
"$zoo" predict --torchscript "$run/model.pt" --input "${inputs[@]}" --topk 2

cat <<TXT

Where everything went:
  run folder      $run/ (config.json, train.log, metrics.jsonl)
  checkpoints     $run/best.ckpt, $run/last.ckpt
  TorchScript     $run/model.pt   (python3 -c "import torch; m = torch.jit.load('$run/model.pt')")
  sample images   $run/samples/{train,val}/<class>/
TXT
