#!/usr/bin/env bash
# Real data: CIFAR-10 as JPEG class folders (../shared/data/cifar10.tar.gz), unpacked once into
# the build folder. A short resnet18_cifar run on a class-balanced subset must reach a test
# accuracy far above chance (10%): the bar is ${CIFAR_BAR}%.
set -euo pipefail
ZOO=${ZOO:?path of the zoo binary}
SRC=${ZOO_SHARED_DATA:?}/cifar10.tar.gz
W=${ZOO_WORK:-/tmp/zoo-work}/cifar10
PER_CLASS_TRAIN=${CIFAR_PER_CLASS_TRAIN:-250}   # 2,500 training images
PER_CLASS_TEST=${CIFAR_PER_CLASS_TEST:-50}      # 500 test images
EPOCHS=${CIFAR_EPOCHS:-2}
CIFAR_BAR=${CIFAR_BAR:-20}

[[ -f $SRC ]] || { echo "FAIL: $SRC not found (../shared/data must sit beside the project)"; exit 1; }
if [[ ! -f $W/full/.unpacked ]]; then
  rm -rf "$W/full" && mkdir -p "$W/full"
  tar -xzf "$SRC" -C "$W/full"
  touch "$W/full/.unpacked"
fi
# A balanced subset as an image-folder tree of links: the first N images of every class.
rm -rf "$W/subset"
for split in train test; do
  n=$([[ $split == train ]] && echo "$PER_CLASS_TRAIN" || echo "$PER_CLASS_TEST")
  for dir in "$W/full/$split"/*/; do
    class=$(basename "$dir")
    mkdir -p "$W/subset/$split/$class"
    files=("$dir"*.jpg)  # NNNN.jpg: glob order is numeric order
    for f in "${files[@]:0:$n}"; do ln -s "$f" "$W/subset/$split/$class/"; done
  done
done

rm -rf "$W/run"
start=$(date +%s)
"$ZOO" train --task classify --model resnet18_cifar --data "$W/subset" --epochs "$EPOCHS" --batch-size 64 \
  --lr 0.05 --warmup-steps 20 --workers 2 --channels-last --out "$W/run" --json > "$W/train.json"
"$ZOO" eval --checkpoint "$W/run/last.ckpt" --split test --json > "$W/eval.json"
seconds=$(( $(date +%s) - start ))
top1=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["top1"])' "$W/eval.json")
echo "resnet18_cifar, $((PER_CLASS_TRAIN * 10)) CIFAR-10 training images, $EPOCHS epochs: test top-1 $top1% (bar $CIFAR_BAR%), ${seconds}s"
if /usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$top1" "$CIFAR_BAR"; then
  echo "1 passed, 0 failed"
else
  echo "FAIL: test accuracy $top1% is below $CIFAR_BAR%"
  echo "0 passed, 1 failed"
  exit 1
fi
