"""PVT v1 in PyTorch, written from the paper (Wang et al. 2021) and the layout of the authors'
classifier (whai362/PVT, classification/pvt.py): the oracle zoo's models/vision/pvt.cpp is
checked against (names, parameter counts, logits, position embeddings resized bilinearly for
another image size as the authors' _get_pos_embed does).

  python3 pvt_reference.py counts      # parameter counts of the published configurations
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Spatial-reduction attention: keys and values from an R x R stride-R convolution + LayerNorm."""

    def __init__(self, dim, heads, sr_ratio):
        super().__init__()
        self.heads, self.scale, self.sr_ratio = heads, (dim // heads) ** -0.5, sr_ratio
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x, H, W):
        B, N, C = x.shape
        h = self.heads
        q = self.q(x).reshape(B, N, h, C // h).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            x = self.norm(self.sr(x.permute(0, 2, 1).reshape(B, C, H, W)).reshape(B, C, -1).permute(0, 2, 1))
        kv = self.kv(x).reshape(B, -1, 2, h, C // h).permute(2, 0, 3, 1, 4)
        attn = ((q @ kv[0].transpose(-2, -1)) * self.scale).softmax(-1)
        return self.proj((attn @ kv[1]).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, sr_ratio):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads, sr_ratio)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, dim * mlp_ratio)

    def forward(self, x, H, W):
        x = x + self.attn(self.norm1(x), H, W)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, grid, patch, cin, dim):
        super().__init__()
        self.grid = grid
        self.proj, self.norm = nn.Conv2d(cin, dim, patch, patch), nn.LayerNorm(dim)

    def forward(self, x):
        x = self.proj(x)
        H, W = x.shape[2:]
        return self.norm(x.flatten(2).transpose(1, 2)), (H, W)


class PVT(nn.Module):
    def __init__(self, img=224, patch=4, classes=1000, widths=(64, 128, 320, 512), heads=(1, 2, 5, 8),
                 mlp_ratios=(8, 8, 4, 4), depths=(2, 2, 2, 2), sr_ratios=(8, 4, 2, 1)):
        super().__init__()
        grid = img // patch
        for i in range(4):
            if i:
                grid //= 2
            pe = PatchEmbed(grid, patch if i == 0 else 2, 3 if i == 0 else widths[i - 1], widths[i])
            setattr(self, f"patch_embed{i + 1}", pe)
            setattr(self, f"pos_embed{i + 1}", nn.Parameter(torch.randn(1, grid * grid + (i == 3), widths[i]) * 0.02))
            setattr(self, f"block{i + 1}", nn.ModuleList(Block(widths[i], heads[i], mlp_ratios[i], sr_ratios[i]) for _ in range(depths[i])))
        self.norm = nn.LayerNorm(widths[3], eps=1e-6)
        self.cls_token = nn.Parameter(torch.randn(1, 1, widths[3]) * 0.02)
        self.head = nn.Linear(widths[3], classes)

    @staticmethod
    def grid_pos(pos, grid, H, W):
        if H == grid and W == grid:
            return pos
        pos = pos.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        return F.interpolate(pos, size=(H, W), mode="bilinear").reshape(1, -1, H * W).permute(0, 2, 1)

    def forward(self, x):
        B = x.shape[0]
        for i in range(4):
            pe, pos = getattr(self, f"patch_embed{i + 1}"), getattr(self, f"pos_embed{i + 1}")
            x, (H, W) = pe(x)
            if i == 3:
                x = torch.cat((self.cls_token.expand(B, -1, -1), x), 1)
                pos = torch.cat((pos[:, :1], self.grid_pos(pos[:, 1:], pe.grid, H, W)), 1)
            else:
                pos = self.grid_pos(pos, pe.grid, H, W)
            x = x + pos
            for block in getattr(self, f"block{i + 1}"):
                x = block(x, H, W)
            if i != 3:
                x = x.reshape(B, H, W, -1).permute(0, 3, 1, 2)
        return self.head(self.norm(x)[:, 0])


CONFIGS = {"pvt_tiny": {}, "pvt_small": {"depths": (3, 4, 6, 3)}, "pvt_medium": {"depths": (3, 4, 18, 3)},
           "pvt_large": {"depths": (3, 8, 27, 3)}, "pvt_tiny_patch2_32": {"img": 32, "patch": 2, "classes": 10}}

if __name__ == "__main__" and sys.argv[1:] == ["counts"]:
    for name, kw in CONFIGS.items():
        print(name, sum(p.numel() for p in PVT(**kw).parameters()))
