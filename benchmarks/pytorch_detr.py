#!/usr/bin/env python3
"""DETR as facebookresearch/detr writes it, for comparison with `zoo bench --config detr_r50`
(docs/PERFORMANCE.md) and as the oracle of zoo's DETR (tests/python/test_detr_parity.py).

The model has DETR's module and parameter names: torchvision's ResNet-50 with frozen BatchNorm
(stem and layer1 frozen) as backbone.0.body, the normalised 2-D sine positions, a post-norm
nn.MultiheadAttention Transformer of 6 + 6 layers (positions added to queries and keys in every
attention), 100 learned queries, class and 3-layer box heads, auxiliary losses. The step: a batch
of 2 random 384x384 images with 5 and 7 random boxes, forward, Hungarian matching (scipy's
linear_sum_assignment when installed, else the shortest-augmenting-path solver below), the set
loss (CE with no-object weight 0.1, L1 x 5, GIoU x 2, on all 6 decoder layers), backward, gradient
clipping at 0.1 and AdamW (1e-4; the backbone 1e-5; weight decay 1e-4).

Usage: /usr/bin/python3 benchmarks/pytorch_detr.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import copy
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models._utils import IntermediateLayerGetter

try:
    from scipy.optimize import linear_sum_assignment
except ImportError:  # the solver below gives the same least-cost assignment
    linear_sum_assignment = None


class FrozenBatchNorm2d(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x):
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


class Backbone(nn.Module):
    def __init__(self, name="resnet50", dilation=False):
        super().__init__()
        body = getattr(torchvision.models, name)(replace_stride_with_dilation=[False, False, dilation], norm_layer=FrozenBatchNorm2d)
        for parameter_name, parameter in body.named_parameters():
            if "layer2" not in parameter_name and "layer3" not in parameter_name and "layer4" not in parameter_name:
                parameter.requires_grad_(False)
        self.body = IntermediateLayerGetter(body, return_layers={"layer4": "0"})
        self.num_channels = 512 if name in ("resnet18", "resnet34") else 2048

    def forward(self, images, mask):
        x = self.body(images)["0"]
        return x, F.interpolate(mask[None].float(), size=x.shape[-2:]).to(torch.bool)[0]


def sine_positions(mask, num_pos_feats=128, temperature=10000):
    not_mask = ~mask
    y_embed = not_mask.cumsum(1, dtype=torch.float32)
    x_embed = not_mask.cumsum(2, dtype=torch.float32)
    eps, scale = 1e-6, 2 * math.pi
    y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
    x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class Joiner(nn.Sequential):
    def __init__(self, backbone, hidden_dim):
        super().__init__(backbone, nn.Identity())  # backbone.1: the positions, which have no weights
        self.hidden_dim = hidden_dim

    def forward(self, images, mask):
        x, m = self[0](images, mask)
        return x, m, sine_positions(m, self.hidden_dim // 2).to(x.dtype)


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.linear1, self.dropout, self.linear2 = nn.Linear(d, ffn), nn.Dropout(dropout), nn.Linear(ffn, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, src, mask, pos):
        q = k = src + pos
        src = self.norm1(src + self.dropout1(self.self_attn(q, k, value=src, key_padding_mask=mask)[0]))
        return self.norm2(src + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(src))))))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.linear1, self.dropout, self.linear2 = nn.Linear(d, ffn), nn.Dropout(dropout), nn.Linear(ffn, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, tgt, memory, mask, pos, query_pos):
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, value=tgt)[0]))
        tgt2 = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory, key_padding_mask=mask)[0]
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        return self.norm3(tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))


class Encoder(nn.Module):
    def __init__(self, layer, n):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])

    def forward(self, src, mask, pos):
        for layer in self.layers:
            src = layer(src, mask, pos)
        return src


class Decoder(nn.Module):
    def __init__(self, layer, n, d):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])
        self.norm = nn.LayerNorm(d)

    def forward(self, tgt, memory, mask, pos, query_pos):
        intermediate = []
        for layer in self.layers:
            tgt = layer(tgt, memory, mask, pos, query_pos)
            intermediate.append(self.norm(tgt))
        return torch.stack(intermediate)


class Transformer(nn.Module):
    def __init__(self, d=256, heads=8, enc=6, dec=6, ffn=2048, dropout=0.1):
        super().__init__()
        self.encoder = Encoder(EncoderLayer(d, heads, ffn, dropout), enc)
        self.decoder = Decoder(DecoderLayer(d, heads, ffn, dropout), dec, d)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src, mask, query_embed, pos):
        bs = src.shape[0]
        src, pos = src.flatten(2).permute(2, 0, 1), pos.flatten(2).permute(2, 0, 1)
        query_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
        mask = mask.flatten(1)
        memory = self.encoder(src, mask, pos)
        return self.decoder(torch.zeros_like(query_embed), memory, mask, pos, query_embed).transpose(1, 2)


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, n):
        super().__init__()
        sizes = [d_hidden] * (n - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip([d_in] + sizes, sizes + [d_out]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < len(self.layers) - 1 else layer(x)
        return x


class DETR(nn.Module):
    def __init__(self, num_classes=91, num_queries=100, backbone="resnet50", dilation=False, d=256, dropout=0.1):
        super().__init__()
        self.transformer = Transformer(d=d, dropout=dropout)
        self.class_embed = nn.Linear(d, num_classes + 1)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.query_embed = nn.Embedding(num_queries, d)
        body = Backbone(backbone, dilation)
        self.input_proj = nn.Conv2d(body.num_channels, d, kernel_size=1)
        self.backbone = Joiner(body, d)

    def forward(self, images, mask=None):
        """images (B, 3, H, W); mask (B, H, W) true on padding. All layers' logits and boxes."""
        if mask is None:
            mask = torch.zeros(images.shape[0], images.shape[2], images.shape[3], dtype=torch.bool)
        src, m, pos = self.backbone(images, mask)
        hs = self.transformer(self.input_proj(src), m, self.query_embed.weight, pos)
        return self.class_embed(hs), self.bbox_embed(hs).sigmoid()


def box_cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def generalized_box_iou(a, b):
    area_a, area_b = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt, rb = torch.max(a[:, None, :2], b[:, :2]), torch.min(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b - inter
    lt, rb = torch.min(a[:, None, :2], b[:, :2]), torch.max(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    return inter / union - (enclosing - union) / enclosing


def assign(cost):
    """Rows (queries) to columns (objects), least total cost: scipy's, or shortest augmenting
    paths over the (fewer) objects."""
    if linear_sum_assignment is not None:
        return linear_sum_assignment(cost)
    c = cost.T.tolist()  # objects x queries
    n, m = len(c), len(c[0]) if c else 0
    u, v, p, way = [0.0] * (n + 1), [0.0] * (m + 1), [0] * (m + 1), [0] * (m + 1)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = [math.inf] * (m + 1), [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], math.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = c[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    pairs = sorted((j - 1, p[j] - 1) for j in range(1, m + 1) if p[j])
    return [q for q, _ in pairs], [t for _, t in pairs]


@torch.no_grad()
def match(logits, boxes, targets):
    bs, nq = logits.shape[:2]
    prob, out_bbox = logits.flatten(0, 1).softmax(-1), boxes.flatten(0, 1)
    tgt_ids, tgt_bbox = torch.cat([t["labels"] for t in targets]), torch.cat([t["boxes"] for t in targets])
    cost = 5 * torch.cdist(out_bbox, tgt_bbox, p=1) - prob[:, tgt_ids] - 2 * generalized_box_iou(box_cxcywh_to_xyxy(out_bbox), box_cxcywh_to_xyxy(tgt_bbox))
    cost = cost.view(bs, nq, -1)
    sizes = [len(t["boxes"]) for t in targets]
    return [tuple(torch.as_tensor(x, dtype=torch.int64) for x in assign(c[i].numpy())) for i, c in enumerate(cost.split(sizes, -1))]


def set_loss(logits, boxes, targets, num_classes):
    indices = match(logits, boxes, targets)
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    target_classes = torch.full(logits.shape[:2], num_classes, dtype=torch.int64)
    target_classes[batch_idx, src_idx] = torch.cat([t["labels"][j] for t, (_, j) in zip(targets, indices)])
    weight = torch.ones(num_classes + 1)
    weight[-1] = 0.1
    ce = F.cross_entropy(logits.transpose(1, 2), target_classes, weight)
    num_boxes = max(sum(len(t["labels"]) for t in targets), 1)
    src_boxes = boxes[batch_idx, src_idx]
    tgt_boxes = torch.cat([t["boxes"][j] for t, (_, j) in zip(targets, indices)])
    l1 = F.l1_loss(src_boxes, tgt_boxes, reduction="none").sum() / num_boxes
    giou = (1 - torch.diag(generalized_box_iou(box_cxcywh_to_xyxy(src_boxes), box_cxcywh_to_xyxy(tgt_boxes)))).sum() / num_boxes
    return ce + 5 * l1 + 2 * giou


def main():
    import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share

    args = twin.parse_args(argparse.ArgumentParser(description=__doc__), warmup=1, steps=3)
    model = DETR()
    model.train()
    images = torch.randn(2, 3, 384, 384)
    generator = torch.Generator().manual_seed(1)
    targets = []
    for n in (5, 7):  # boxes of 5% to 35% of the side, centred in the middle 60%
        centre, size = torch.rand(n, 2, generator=generator) * 0.6 + 0.2, torch.rand(n, 2, generator=generator) * 0.3 + 0.05
        targets.append({"labels": torch.randint(1, 91, (n,), generator=generator), "boxes": torch.cat([centre, size], 1)})
    backbone = [p for n, p in model.named_parameters() if "backbone" in n and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if "backbone" not in n and p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": rest}, {"params": backbone, "lr": 1e-5}], lr=1e-4, weight_decay=1e-4)

    def step():
        logits, boxes = model(images)
        loss = sum(set_loss(logits[l], boxes[l], targets, 91) for l in range(logits.shape[0]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "detr_r50", "framework": "pytorch", "unit": "images", "per_s": 2 / seconds, "step_ms": 1000 * seconds,
                      "threads": args.threads, "matcher": "scipy" if linear_sum_assignment else "python"}))


if __name__ == "__main__":
    main()
