#!/usr/bin/env python3
"""The loader_folder benchmark in PyTorch, for comparison with `zoo bench --config loader_folder`
(docs/PERFORMANCE.md, scripts/bench_compare.sh).

torchvision's ImageFolder over tiny_coco's 50 real photographs (../shared/data, linked into a
one-class folder as zoo's bench links them), RandomResizedCrop(224) + RandomHorizontalFlip +
ToTensor + Normalize(ImageNet), batches of 64 drawn in order (index b * 64 + i modulo the folder)
by a DataLoader with one worker per core (--workers, default 2, as zoo's bench on 2 cores); a step
is one batch. --decoder pil (torchvision's default loader) or torchvision (torchvision.io's
libjpeg decoder, then the same transforms on tensors); measure both.

Usage: /usr/bin/python3 benchmarks/pytorch_loader_folder.py [--decoder pil|torchvision] [--workers N] [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import os
import pathlib
import tempfile
import time

import torch
import torchvision
import torchvision.transforms as T

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class Cycled(torch.utils.data.Dataset):
    """Index k of `length` is the folder's image k modulo its size, as zoo's bench draws them."""

    def __init__(self, folder, length):
        self.folder, self.length = folder, length

    def __len__(self):
        return self.length

    def __getitem__(self, k):
        return self.folder[k % len(self.folder)]


def read_with_torchvision(path):
    return torchvision.io.decode_image(torchvision.io.read_file(path), torchvision.io.ImageReadMode.RGB)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--decoder", choices=["pil", "torchvision"], default="pil")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=str(pathlib.Path(__file__).resolve().parents[2] / "shared/data/tiny_coco/train2017"))
    args = twin.parse_args(parser, warmup=2, steps=5)
    batch = 64
    normalize = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with tempfile.TemporaryDirectory() as root:
        os.mkdir(os.path.join(root, "coco"))
        for name in sorted(os.listdir(args.data)):
            if name.lower().endswith((".jpg", ".jpeg", ".png")):
                os.symlink(os.path.join(args.data, name), os.path.join(root, "coco", name))
        if args.decoder == "pil":
            transform = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), normalize])
            folder = torchvision.datasets.ImageFolder(root, transform=transform)
        else:
            transform = T.Compose([T.RandomResizedCrop(224, antialias=True), T.RandomHorizontalFlip(),
                                   T.ConvertImageDtype(torch.float32), normalize])
            folder = torchvision.datasets.ImageFolder(root, transform=transform, loader=read_with_torchvision)
        loader = torch.utils.data.DataLoader(Cycled(folder, (args.warmup + args.steps) * batch), batch_size=batch,
                                             shuffle=False, num_workers=args.workers)
        batches = iter(loader)
        for _ in range(args.warmup):
            next(batches)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            images, _ = next(batches)
        seconds = (time.perf_counter() - t0) / args.steps
    assert images.shape == (batch, 3, 224, 224), images.shape
    print(json.dumps({"config": "loader_folder_pytorch", "unit": "images", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "workers": args.workers, "decoder": args.decoder, "images_in_folder": len(folder), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
