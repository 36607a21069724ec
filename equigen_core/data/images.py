"""User images: a folder of PNG/JPEG files (optionally one subfolder per class) or a single uploaded file.

Every image is converted to `channels` (1 grey, 3 RGB) and resized as a whole to size×size (no cropping; the aspect
ratio is not kept). Transparent pixels (RGBA, LA, palette with transparency) are composited over black, the MNIST
background. Folder layout:

    folder/a.png, folder/b.jpg, ...              → one class "folder", label 0 for all
    folder/cat/1.png, folder/dog/2.jpeg, ...     → classes by sorted subfolder name ("cat" 0, "dog" 1)

Hidden files and folders (".name") and "__MACOSX" are skipped; subfolders are read one level deep.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from equigen_core.data.types import DataError, ImageSet

EXTENSIONS = (".png", ".jpg", ".jpeg")  # compared lower-case
MAX_PIXELS = 40_000_000  # refuse decompression bombs: a 20 MB PNG can claim gigapixels


def _check_options(size: int, channels: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4096:
        raise DataError(f"size must be an int in 1..4096 (the output is size×size), got {size!r}")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Any PIL mode → "L" (channels=1) or "RGB" (channels=3); alpha over black, 16-bit / float grey rescaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # high bit-depth grey: PIL's convert("L") would clip
        arr = np.asarray(img, dtype=np.float64)
        scale = 1.0 if img.mode == "F" else 65535.0
        img = Image.fromarray(np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8))  # 2-D uint8 → "L"
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
        black = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, img)
    return img.convert("L" if channels == 1 else "RGB")  # L = ITU-R 601 luma of RGB


def _decode(path: Path, *, size: int, channels: int, max_bytes: int) -> Tensor:
    """One image file → (C, size, size) float32 in [0, 1]; DataError naming the file on any problem."""
    if not path.is_file():
        raise DataError(f"image file {str(path)!r} does not exist (or is not a regular file)")
    nbytes = path.stat().st_size
    if nbytes > max_bytes:
        raise DataError(f"image file {str(path)!r} is {nbytes:,} bytes, over the {max_bytes:,}-byte limit; "
                        "shrink it or raise max_bytes")
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DataError(f"image file {str(path)!r} is {w}×{h} pixels, over the {MAX_PIXELS:,}-pixel limit; "
                                "downscale it first")
            img.load()
            img = _to_mode(img, channels)
            img = img.resize((size, size), Image.Resampling.BILINEAR)  # Pillow antialiases when shrinking
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"image file {str(path)!r} is not a decodable PNG/JPEG image ({type(e).__name__}: {e}); "
                        "re-export it or remove it") from e
    arr = np.asarray(img, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if channels == 1 else t.permute(2, 0, 1).contiguous()  # (C, H, W)


def load_image_file(path: str | Path, *, size: int = 28, channels: Literal[1, 3] = 1,
                    max_bytes: int = 20_000_000) -> Tensor:
    """A single image (e.g. an upload) → (C, size, size) float32 in [0, 1]."""
    _check_options(size, channels)
    path = Path(path)
    if path.suffix.lower() not in EXTENSIONS:
        raise DataError(f"image file {str(path)!r} has extension {path.suffix!r}; expected one of {list(EXTENSIONS)}")
    return _decode(path, size=size, channels=channels, max_bytes=max_bytes)


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name != "__MACOSX"


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _visible(p) and p.is_file() and p.suffix.lower() in EXTENSIONS)


def load_image_folder(path: str | Path, *, size: int = 28, channels: Literal[1, 3] = 1, max_files: int = 10000,
                      max_bytes: int = 20_000_000) -> ImageSet:
    """A folder of PNG/JPEG images → ImageSet (B, C, size, size); classes from subfolders (see module docstring)."""
    _check_options(size, channels)
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"image folder {str(folder)!r} does not exist or is not a directory")
    subdirs = sorted(p for p in folder.iterdir() if _visible(p) and p.is_dir())
    top = _image_files(folder)

    if subdirs:
        if top:
            raise DataError(f"image folder {str(folder)!r} has both images at the top ({top[0].name!r}, ...) and "
                            f"class subfolders {[d.name for d in subdirs][:5]}; move the top-level images into a "
                            "subfolder or remove the subfolders")
        class_names = [d.name for d in subdirs]
        entries: list[tuple[Path, int]] = []
        for label, d in enumerate(subdirs):
            files = _image_files(d)
            if not files:
                raise DataError(f"class folder {str(d)!r} contains no .png/.jpg/.jpeg images; add some or remove it")
            entries += [(f, label) for f in files]
            if len(entries) > max_files:
                break
    else:
        class_names = [folder.resolve().name or "images"]
        entries = [(f, 0) for f in top]

    if not entries:
        raise DataError(f"image folder {str(folder)!r} contains no .png/.jpg/.jpeg images")
    if len(entries) > max_files:
        raise DataError(f"image folder {str(folder)!r} holds more than max_files={max_files} images; "
                        "use a smaller folder or raise max_files")

    images = torch.stack([_decode(f, size=size, channels=channels, max_bytes=max_bytes) for f, _ in entries])
    labels = torch.tensor([label for _, label in entries], dtype=torch.long)  # (B,)
    return ImageSet(images, labels, class_names, f"folder:{folder}")  # images (B, C, size, size)


def extract_image_zip(path: str | Path, dest: str | Path, *, max_files: int = 10000,
                      max_total_bytes: int = 200_000_000, max_bytes: int = 20_000_000) -> Path:
    """An uploaded .zip of images → an image folder under `dest` that load_image_folder reads (the member's parent
    folder name is its class; images at the top level form one class). Only .png/.jpg/.jpeg members are written, by
    their plain file names (no path from the archive reaches the disk, so "../" members cannot escape `dest`);
    the member count and the uncompressed sizes are checked before anything is extracted."""

    path, dest = Path(path), Path(dest)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path.name}: not a readable .zip archive ({e})") from e
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and m.filename.lower().endswith(EXTENSIONS)
                   and not any(part.startswith(".") or part == "__MACOSX" for part in m.filename.split("/"))]
        if not members:
            raise DataError(f"{path.name}: the archive holds no .png/.jpg/.jpeg images")
        if len(members) > max_files:
            raise DataError(f"{path.name}: more than {max_files} images in the archive")
        big = next((m for m in members if m.file_size > max_bytes), None)
        if big is not None:
            raise DataError(f"{path.name}: {big.filename} is {big.file_size / 1e6:.1f} MB uncompressed (limit "
                            f"{max_bytes / 1e6:.0f} MB)")
        if sum(m.file_size for m in members) > max_total_bytes:
            raise DataError(f"{path.name}: the images add up to more than {max_total_bytes / 1e6:.0f} MB uncompressed")
        safe = re.compile(r"[^A-Za-z0-9_.-]")
        nested = any("/" in m.filename for m in members)
        out = dest / "images"
        for i, m in enumerate(members):
            parts = m.filename.split("/")
            cls = safe.sub("_", parts[-2]) if nested and len(parts) > 1 else ("images" if nested else "")
            name = f"{i:05d}_{safe.sub('_', parts[-1])}"
            target = out / cls / name if cls else out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src:
                data = src.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise DataError(f"{path.name}: {m.filename} is larger than it claims")
            target.write_bytes(data)
    return out
