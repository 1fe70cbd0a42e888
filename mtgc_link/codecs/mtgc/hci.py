"""The HCI modality: a highly compressed image (the picture downscaled by ``scale`` and coded at a high QP).

The HCI is coded by the registered ``bpg`` codec (HEVC intra) at a fixed ``-q`` (0..51, higher = coarser;
the HEVC QP is q + 1). Decoding goes through that codec's ``decode``, which runs the
third-party decoder in the crash/timeout sandbox, so corrupted HCI bytes become a typed error here.

``make_hci(image, scale, q)`` is the low-resolution image *as the decoder sees it* (coded and decoded);
training uses it so that the model learns on the same HCI it gets at test time.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from mtgc_link.codecs.base import SourceCodec, check_image

HCI_CODEC = "bpg"
# libx265 pinned (not bpgenc even where installed): one bitstream kind everywhere. 4:2:0 as bpgenc's
# default: on Kodak HCIs it is 2-12 % smaller than 4:4:4 at a PSNR 0-1 dB lower (docs/mtgc.md).
HCI_CODEC_SETTINGS = {"chroma": "420", "backend": "libx265"}
DEFAULT_Q = 42  # BPG -q
MAX_SCALE = 255  # one header byte
MIN_CODED_SIDE = 16  # libx265 refuses pictures under ~10 px a side; smaller HCIs are edge-padded to this


class HCIDecodeError(ValueError):
    """The HCI segment does not decode to an image of the expected size."""


@functools.lru_cache(maxsize=1)
def hci_codec() -> SourceCodec:
    from mtgc_link.codecs import get_codec

    return get_codec(HCI_CODEC, **HCI_CODEC_SETTINGS)


def hci_size(height: int, width: int, scale: int) -> tuple[int, int]:
    """(h, w) of the HCI of an (height, width) image: ceil(H / scale), ceil(W / scale)."""
    if not isinstance(scale, int | np.integer) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"hci_scale must be an integer in 1..{MAX_SCALE}, got {scale!r}")
    return -(-height // scale), -(-width // scale)


def downscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Area-averaged (box filter: no aliasing for integer factors) uint8 (h, w, 3) image."""
    h, w = hci_size(image.shape[0], image.shape[1], scale)
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BOX))


def encode_hci(image: np.ndarray, scale: int, q: int | None = None) -> bytes:
    """uint8 (H, W, 3) -> HCI bytes (the HCI codec's complete stream)."""
    image = check_image(image)
    q = DEFAULT_Q if q is None else q
    if not isinstance(q, int | np.integer) or not 0 <= q <= 51:
        raise ValueError(f"hci_q must be a BPG -q value, an integer in 0..51, got {q!r}")
    low = downscale(image, scale)
    ph, pw = max(0, MIN_CODED_SIDE - low.shape[0]), max(0, MIN_CODED_SIDE - low.shape[1])
    if ph or pw:
        low = np.pad(low, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return hci_codec().encode(low, quality=int(q)).data


@functools.lru_cache(maxsize=256)
def _decode_cached(data: bytes) -> tuple[np.ndarray | None, str | None]:
    dec = hci_codec().decode(data)
    return (dec.image, None) if dec.ok else (None, dec.reason or "HCI decoder failed")


def decode_hci(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """HCI bytes -> uint8 (h, w, 3) with (h, w) == ``size``. Raises HCIDecodeError otherwise.

    Cached by content (decoding is a pure function of the bytes; sweeps decode the same HCI often).
    """
    image, reason = _decode_cached(bytes(data))
    if image is None:
        raise HCIDecodeError(f"hci: {reason}")
    coded = (max(size[0], MIN_CODED_SIDE), max(size[1], MIN_CODED_SIDE), 3)
    if image.shape != coded:
        raise HCIDecodeError(f"hci: decoded shape {image.shape} != expected {coded}")
    image = image[: size[0], : size[1]].copy()
    image.flags.writeable = True
    return image


def make_hci(image: np.ndarray, scale: int, q: int | None = None) -> np.ndarray:
    """The HCI the decoder sees: uint8 (ceil(H/scale), ceil(W/scale), 3) after coding at quality ``q``."""
    h, w = hci_size(image.shape[0], image.shape[1], scale)
    return decode_hci(encode_hci(image, scale, q), (h, w))
