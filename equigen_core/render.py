"""Rendering: INR images → tiled grids and PNG files. (3D meshes and turntables arrive with the 3D issue.)"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def tile(images: Tensor, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """(B, C, H, W) in [0, 1] → one uint8 grid image (H', W') or (H', W', 3)."""
    b, c, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    grid = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad) * 0.5
    for i in range(b):
        r, q = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[i]
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def grid_image(images: Tensor, ncol: int | None = None, scale: int = 1):
    """(B, C, H, W) in [0, 1] → a PIL image of the tiled grid, upscaled `scale`× with nearest neighbour (crisp
    pixels in a browser, which would otherwise smooth a 28-px render)."""
    from PIL import Image

    img = Image.fromarray(tile(images.detach().cpu(), ncol))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_grid(images: Tensor, path: str | Path, ncol: int | None = None, scale: int = 3) -> Path:
    """Write a PNG grid of images (B, C, H, W), upscaled `scale`× with nearest neighbour."""
    img = grid_image(images, ncol, scale)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG")
    tmp.replace(path)
    return path
