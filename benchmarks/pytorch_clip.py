#!/usr/bin/env python3
"""CLIP (Radford et al. 2021) in PyTorch with openai/CLIP's module structure and state-dict names,
written from the paper and the released models' layout: the oracle of tests/python/test_clip_parity.py
and the twin of `zoo bench --config clip_small` (docs/PERFORMANCE.md).

The benchmark step: clip_small (32 px images on 4 px patches, a 4-layer ViT and a 4-layer causal
text Transformer of width 128 with 4 heads, texts of 32 tokens, joint space 128, CLIP's 49,408-token
vocabulary) on a batch of 128 random image-text pairs: both towers forward, the symmetric
contrastive loss, backward, AdamW(lr 5e-4, weight decay 0.2, foreach) as a PyTorch user who cares
about speed writes it: batch-first attention with the fused nn.MultiheadAttention, the causal mask
built once, no Python work in the step that zoo does not also do.

Usage: /usr/bin/python3 benchmarks/pytorch_clip.py [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x, mask=None):
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, image, patch, width, layers, heads, output_dim):
        super().__init__()
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((image // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, images):
        x = self.conv1(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], 1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([("-1", nn.AvgPool2d(stride)),
                                                         ("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False)),
                                                         ("1", nn.BatchNorm2d(planes * 4))]))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class AttentionPool2d(nn.Module):
    def __init__(self, spatial, width, heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spatial ** 2 + 1, width) / width ** 0.5)
        self.k_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, output_dim)
        self.heads = heads

    def forward(self, x):
        x = x.flatten(2).permute(2, 0, 1)  # (HW, B, C)
        x = torch.cat([x.mean(0, keepdim=True), x], 0) + self.positional_embedding[:, None, :]
        out, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.heads,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.c_proj.weight, out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True, training=self.training, need_weights=False)
        return out.squeeze(0)


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, image, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.attnpool = AttentionPool2d(image // 32, width * 32, heads, output_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.avgpool(F.relu(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class CLIP(nn.Module):
    def __init__(self, embed_dim=512, image=224, vision_layers=12, vision_width=768, patch=32, context=77, vocab=49408,
                 text_width=512, text_heads=8, text_layers=12, vision_heads=None):
        super().__init__()
        if isinstance(vision_layers, (tuple, list)):
            heads = vision_heads or vision_width * 32 // 64
            self.visual = ModifiedResNet(vision_layers, embed_dim, heads, image, vision_width)
        else:
            self.visual = VisionTransformer(image, patch, vision_width, vision_layers, vision_heads or vision_width // 64, embed_dim)
        self.transformer = Transformer(text_width, text_layers, text_heads)
        self.token_embedding = nn.Embedding(vocab, text_width)
        self.positional_embedding = nn.Parameter(torch.empty(context, text_width))
        self.ln_final = nn.LayerNorm(text_width)
        self.text_projection = nn.Parameter(torch.empty(text_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        # The causal mask, built once: -inf above the diagonal.
        self.register_buffer("causal_mask", torch.full((context, context), float("-inf")).triu(1), persistent=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=text_width ** -0.5)

    def encode_image(self, images):
        return self.visual(images)

    def encode_text(self, tokens):
        # The causal attention makes positions after the last <|endoftext|> irrelevant: cut them
        # (as zoo does outside an export).
        at_end = tokens.argmax(dim=-1)
        tokens = tokens[:, : int(at_end.max()) + 1]
        t = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:t]
        x = self.ln_final(self.transformer(x, self.causal_mask[:t, :t]))
        # Read at <|endoftext|>, the largest id (openai/CLIP's argmax).
        return x[torch.arange(x.shape[0]), at_end] @ self.text_projection

    def forward(self, images, tokens):
        image_features = F.normalize(self.encode_image(images), dim=-1)
        text_features = F.normalize(self.encode_text(tokens), dim=-1)
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * image_features @ text_features.t()
        return logits


def contrastive_loss(logits):
    labels = torch.arange(logits.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def clip_small():
    return CLIP(embed_dim=128, image=32, vision_layers=4, vision_width=128, patch=4, context=32, text_width=128, text_heads=4,
                text_layers=4, vision_heads=4)


def main():
    import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share

    parser = argparse.ArgumentParser()
    args = twin.parse_args(parser, warmup=2, steps=10)
    batch = 128
    model = clip_small()
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "ln_" not in n and "bn" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "ln_" not in n and "bn" not in n)]
    adamw = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-4,
                              foreach=True)
    images = torch.randn(batch, 3, 32, 32)
    tokens = torch.randint(1, 49406, (batch, 32))
    tokens[:, 0] = 49406
    lengths = torch.randint(4, 32, (batch,))
    tokens[torch.arange(batch), lengths] = 49407
    tokens[torch.arange(32)[None, :] > lengths[:, None]] = 0

    def step():
        adamw.zero_grad(set_to_none=True)
        contrastive_loss(model(images, tokens)).backward()
        adamw.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "clip_small_pytorch", "unit": "pairs", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
