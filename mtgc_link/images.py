"""The image convention shared by codecs, metrics and the CLI, in one place.

An image is a ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB in [0, 255].

- ``check_image``: validate one image (the single validator; ``codecs`` and ``metrics`` re-export it).
- ``to_tensor``: the single numpy -> torch converter (torch is imported on first call, so importing this
  module stays numpy-only and fast).
- ``IMAGE_SUFFIXES`` / ``is_image_file``: which files count as images when a folder is listed.
- ``MAX_PIXELS``: the largest picture a stream may claim before a decoder refuses to allocate it.

This module imports nothing from ``mtgc_link``: everything may import it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "check_image", "is_image_file", "to_tensor"]

#: File suffixes (lower case) read as images when a folder is listed; all are formats Pillow reads.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
#: A stream (or file header) claiming a larger picture is refused before anything is allocated.
MAX_PIXELS = 64_000_000


def is_image_file(path: str | os.PathLike) -> bool:
    """True when ``path``'s suffix (any case) is one of ``IMAGE_SUFFIXES``."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def check_image(image: object, name: str = "image") -> np.ndarray:
    """Validate one image and return it as a C-contiguous array (the same object when it already is).

    Raises ``TypeError`` when ``image`` is not a numpy array or its dtype is not uint8 (the wrong kind of
    value), ``ValueError`` when its shape is not (H, W, 3) with H, W >= 1 (the right kind, a wrong value).
    Messages start with ``name``, so a caller validating several arguments says which one is wrong.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W, 3), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(
            f"{name} must have dtype uint8 (RGB values 0..255), got {image.dtype}; "
            "convert float images with np.clip(np.round(x * 255), 0, 255).astype(np.uint8)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3) (RGB), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def to_tensor(
    images: np.ndarray, low: float = 0.0, high: float = 1.0, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """uint8 RGB image(s) -> float32 torch tensor, channels first, values mapped linearly to [low, high].

    Input: one image (H, W, 3) or a batch (N, H, W, 3), uint8 in [0, 255] (read-only and non-contiguous
    arrays are fine; the input is never modified). Output: float32 (1, 3, H, W) for one image, (N, 3, H, W)
    for a batch, on ``device``, with value v -> v / 255 * (high - low) + low: [0, 1] by default (diffusion
    models, piq, FID), ``(-1, 1)`` for LPIPS, ``(0, 255)`` for SSIM (then exactly the 8-bit values).
    Raises ``TypeError`` for a non-uint8 array and ``ValueError`` for another shape.
    """
    import torch

    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        what = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"to_tensor expects uint8 (H, W, 3) or (N, H, W, 3) arrays, got {what}")
    if images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(f"to_tensor expects shape (H, W, 3) or (N, H, W, 3), got {images.shape}")
    # torch.from_numpy shares memory and warns on read-only arrays: hand it a writable (contiguous) array.
    arr = np.ascontiguousarray(images) if images.flags.writeable else np.array(images, copy=True)
    x = torch.from_numpy(arr)
    # One image: permute then unsqueeze, the strides the metrics were validated with (conv kernels pick
    # their path by stride, and another path changes SSIM in the 7th digit).
    x = (x.permute(2, 0, 1).unsqueeze(0) if x.ndim == 3 else x.permute(0, 3, 1, 2)).float()
    if (low, high) != (0.0, 255.0):  # [0, 255] is the values themselves (x / 255 * 255 may round)
        x = x / 255.0
        if (low, high) != (0.0, 1.0):
            x = x * (high - low) + low
    return x.to(device)
