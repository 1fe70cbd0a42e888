"""The image convention shared by codecs, metrics and the CLI, in one place.

An image is a ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB in [0, 255].

- ``check_image``: validate one image (the single validator; ``codecs`` and ``metrics`` re-export it).
- ``to_tensor``: the single numpy -> torch converter (torch is imported on first call, so importing this
  module stays numpy-only and fast).
- ``IMAGE_SUFFIXES`` / ``is_image_file``: which files count as images when a folder is listed.
- ``MAX_PIXELS``: the largest picture a stream may claim before a decoder refuses to allocate it, and the
  largest image file ``load_image`` decodes.
- ``load_image`` / ``ImageError``: the single image-file reader (any file Pillow opens -> uint8 RGB, or an
  ``ImageError`` naming the file); the CLI and the sweep's image sets use it. Pillow is imported on first
  call.

This module imports nothing from ``mtgc_link``: everything may import it.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "ImageError",
    "check_image",
    "is_image_file",
    "load_image",
    "to_tensor",
]

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


# ------------------------------------------------------------------------------------------- image files
class ImageError(ValueError):
    """An image file that cannot be read as an image (missing, not an image, truncated, too large, a pixel
    format without a defined 8-bit RGB meaning). ``path`` is the file; the message starts with it."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"image file {self.path}: {reason}")


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _why(exc: BaseException) -> str:
    text = _ADDRESS.sub("", " ".join(str(exc).split())) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:300]


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read one image file -> uint8 (H, W, 3) RGB, a new writable array. Raises ``ImageError`` (a ValueError)
    naming the file, never a raw Pillow exception.

    Every pixel format Pillow opens has one defined conversion (docs/codecs.md, "Images in"):

    - RGB, L, 1 (0/255), P without transparency, CMYK (Pillow's conversion, ICC profiles ignored), YCbCr,
      HSV: Pillow's ``convert("RGB")``; LAB through littleCMS (D50 Lab -> sRGB).
    - More than 8 bits are *scaled*, never clipped: 16-bit modes (``I;16*``, and mode ``I`` holding 0..65535,
      as Pillow gives 16-bit PGM/PNG) by 255/65535 (v / 257, rounded: a ramp keeps its shape, 65535 -> 255);
      mode ``I`` with a declared TIFF depth of b bits by 255/(2^b - 1) (signed: 2^(b-1) - 1; negative values
      are black); 16-bit RGB(A) PNGs arrive from Pillow already at 8 bits (the high byte).
    - Float (``F``): values in [0, 1] are x 255, values in [0, 255] are taken as they are (both rounded);
      any other range, or NaN / infinity, has no defined 8-bit meaning and is refused.
    - Alpha (RGBA, LA, PA, P or L/RGB with a transparency key) is composited on white:
      ``round((c * a + 255 * (255 - a)) / 255)``: opaque pixels keep their colour, transparent ones are white.
    - EXIF orientation is applied (``ImageOps.exif_transpose``): the array is upright as a viewer shows it.
    - A multi-frame file (GIF, APNG, multi-page TIFF) gives its first frame.

    Size: a file whose header claims more than ``max_pixels`` (default: this module's ``MAX_PIXELS``, read at
    call time) is refused from its header, before any pixel is decoded (a decompression bomb).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    name = os.fspath(path)
    if os.path.isdir(name):
        raise ImageError(name, "is a directory, not an image file")
    if not os.path.exists(name):
        raise ImageError(name, "no such file")
    try:
        with warnings.catch_warnings():
            # our own limit (checked below, before decoding) replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(name)
    except Image.DecompressionBombError as exc:
        m = _BOMB_PIXELS.search(str(exc))
        n = f"{int(m.group(1))} pixels" if m else "a size"
        reason = f"header claims {n}, over the limit of {limit} pixels (decompression bomb?)"
        raise ImageError(name, reason) from None
    except UnidentifiedImageError:
        if os.path.getsize(name) == 0:
            raise ImageError(name, "empty file (0 bytes)") from None
        raise ImageError(name, "not an image file Pillow can read (format not recognised)") from None
    except Exception as exc:  # PermissionError, a broken header (SyntaxError, struct.error, ...)
        raise ImageError(name, _broken("cannot open", exc)) from None
    with im:
        w, h = im.size
        if w < 1 or h < 1:
            raise ImageError(name, f"header claims an empty {w}x{h} image")
        if w * h > limit:
            raise ImageError(
                name,
                f"header claims {w}x{h} = {w * h} pixels, over the limit of {limit} pixels "
                "(mtgc_link.images.MAX_PIXELS; decompression bomb?); nothing was decoded",
            )
        try:
            im.seek(0)  # the first frame of a multi-frame file
            im.load()
            tiff = {tag: _tiff_tag(im, tag) for tag in (258, 339)}  # the transposed copy has no tags
            upright = ImageOps.exif_transpose(im)
            return np.array(_to_rgb(upright, name, tiff), dtype=np.uint8, copy=True, order="C")
        except ImageError:
            raise
        except Exception as exc:  # truncated data, a decoder error, an unsupported conversion
            raise ImageError(name, _broken("cannot decode", exc)) from None


def _broken(what: str, exc: BaseException) -> str:
    if "truncat" in str(exc).lower():
        return f"truncated: the file ends before its image data ({_why(exc)})"
    return f"{what} ({_why(exc)})"


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    c = rgba[..., :3].astype(np.uint32)
    a = rgba[..., 3:4].astype(np.uint32)
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _gray(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2)


def _scale_to_8bit(values: np.ndarray, full_scale: float) -> np.ndarray:
    v = np.clip(values.astype(np.float64), 0.0, full_scale)
    return np.rint(v * (255.0 / full_scale)).astype(np.uint8)


def _to_rgb(im, name: str, tiff: dict[int, int | None]) -> np.ndarray:
    """A loaded Pillow image -> uint8 (H, W, 3) RGB (the rules of ``load_image``)."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return np.asarray(im)
    if mode.startswith("I;16"):
        return _gray(_scale_to_8bit(np.asarray(im), 65535.0))
    if mode == "I":
        values = np.asarray(im)
        bits = tiff.get(258)  # BitsPerSample declared by a TIFF
        if bits is not None and bits > 8:
            signed = tiff.get(339) == 2  # SampleFormat 2: signed integer
            full = float(2 ** (bits - 1) - 1 if signed else 2**bits - 1)
        else:
            full = 65535.0 if int(values.max(initial=0)) <= 65535 else float(2**31 - 1)
        return _gray(_scale_to_8bit(values, full))
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ImageError(name, "float image holds NaN or infinite values; no 8-bit meaning")
        lo, hi = float(values.min()), float(values.max())
        if lo >= 0.0 and hi <= 1.0:
            return _gray(np.rint(values * 255.0).astype(np.uint8))
        if lo >= 0.0 and hi <= 255.0:
            return _gray(np.rint(values).astype(np.uint8))
        raise ImageError(
            name,
            f"float image values span {lo:g}..{hi:g}; only [0, 1] or [0, 255] have a defined 8-bit meaning",
        )
    if mode == "LAB":
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return np.asarray(ImageCms.applyTransform(im, transform))
    if mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in im.info:
        return _composite_on_white(np.asarray(im.convert("RGBA")))
    try:
        return np.asarray(im.convert("RGB"))
    except ValueError as exc:  # a mode Pillow has no RGB conversion for
        raise ImageError(name, f"pixel mode {mode} cannot be converted to RGB ({exc})") from None


def _tiff_tag(im, tag: int) -> int | None:
    tags = getattr(im, "tag_v2", None)
    if tags is None or tag not in tags:
        return None
    value = tags[tag]
    value = value[0] if isinstance(value, tuple) else value
    return int(value) if isinstance(value, int | float) else None
