"""TimeSformer in PyTorch, written from the paper (Bertasius et al. 2021) and the layout of the
authors' VisionTransformer (facebookresearch/TimeSformer, timesformer/models/vit.py): the oracle
zoo's models/video/timesformer.cpp is checked against (names, parameter counts, logits of the
divided, joint and space-only schemes).

  python3 timesformer_reference.py counts   # parameter counts of the published configurations
"""
import sys

import torch
import torch.nn as nn

from pvt_reference import Mlp  # fc1, GELU, fc2: the same in both papers' code


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((qkv[0] @ qkv[1].transpose(-2, -1)) * self.scale).softmax(-1)
        return self.proj((attn @ qkv[2]).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, attention):
        super().__init__()
        self.attention = attention
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        if attention == "divided":
            self.temporal_norm1, self.temporal_attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
            self.temporal_fc = nn.Linear(dim, dim)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, dim * mlp_ratio)

    def forward(self, x, B, T, W):
        if self.attention != "divided":
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        # tokens: class token, then patches in (h w t) order
        M = x.size(2)
        H = (x.size(1) - 1) // T // W
        xt = x[:, 1:, :].reshape(B, H * W, T, M).reshape(B * H * W, T, M)  # '(b h w) t m'
        res_t = self.temporal_attn(self.temporal_norm1(xt)).reshape(B, H * W * T, M)
        xt = x[:, 1:, :] + self.temporal_fc(res_t)
        init_cls = x[:, 0:1, :]
        cls = init_cls.repeat(1, T, 1).reshape(B * T, 1, M)
        xs = xt.reshape(B, H * W, T, M).permute(0, 2, 1, 3).reshape(B * T, H * W, M)  # '(b t) (h w) m'
        res_s = self.attn(self.norm1(torch.cat((cls, xs), 1)))
        cls = res_s[:, 0, :].reshape(B, T, M).mean(1, True)
        res_s = res_s[:, 1:, :].reshape(B, T, H * W, M).permute(0, 2, 1, 3).reshape(B, H * W * T, M)
        x = torch.cat((init_cls, xt), 1) + torch.cat((cls, res_s), 1)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)


class VisionTransformer(nn.Module):
    def __init__(self, img_size=224, patch=16, dim=768, depth=12, heads=12, mlp_ratio=4, num_frames=8, num_classes=400,
                 attention="divided"):
        super().__init__()
        self.attention, self.patch = attention, patch
        self.patch_embed = PatchEmbed(patch, dim)
        n = (img_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        if attention != "space":
            self.time_embed = nn.Parameter(torch.randn(1, num_frames, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio, attention) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        B, _, T, _, _ = x.shape
        x = x.permute(0, 2, 1, 3, 4).reshape(B * T, 3, x.size(3), x.size(4))  # '(b t) c h w'
        x = self.patch_embed.proj(x)
        W = x.size(-1)
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.size(0), -1, -1), x), 1) + self.pos_embed
        if self.attention != "space":
            cls = x[:B, 0, :].unsqueeze(1)
            n = x.size(1) - 1
            x = x[:, 1:].reshape(B, T, n, -1).permute(0, 2, 1, 3).reshape(B * n, T, -1)  # '(b n) t m'
            x = x + self.time_embed
            x = torch.cat((cls, x.reshape(B, n * T, -1)), 1)
        for block in self.blocks:
            x = block(x, B, T, W)
        if self.attention == "space":
            x = x.reshape(B, T, x.size(1), x.size(2)).mean(1)
        return self.head(self.norm(x)[:, 0])


CONFIGS = {
    "timesformer_base": dict(img_size=224, patch=16, dim=768, depth=12, heads=12, num_frames=8, num_classes=400),
    "timesformer_small": dict(img_size=32, patch=4, dim=192, depth=4, heads=3, num_frames=8, num_classes=9),
}

if __name__ == "__main__" and sys.argv[1:] == ["counts"]:
    for name, config in CONFIGS.items():
        print(name, sum(p.numel() for p in VisionTransformer(**config).parameters()))
