"""Pixel-domain fidelity: MSE, PSNR, SSIM, MS-SSIM on 8-bit RGB.

Inputs: numpy uint8 (H, W, 3) RGB in [0, 255], reference first. All three are computed on the
RGB values with peak 255 (no conversion to luma), over all three channels.

- PSNR = 10 log10(255^2 / MSE), MSE over all H*W*3 values in float64; ``inf`` for identical images.
- SSIM, MS-SSIM: pytorch-msssim (Gaussian window 11 px, sigma 1.5, K1 = 0.01, K2 = 0.03,
  data_range 255, "valid" filtering with no padding, per channel then averaged). MS-SSIM uses the
  5 standard scales and weights (Wang et al. 2003), so both sides must exceed 160 px: smaller images
  raise ``MetricNotApplicable``, a ``ValueError`` (``compute_metrics`` records them as unavailable
  with that reason) rather than being scored with a different number of scales.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim

from mtgc_link.images import to_tensor
from mtgc_link.metrics.base import METRICS, Metric, MetricNotApplicable, check_pair

PEAK = 255.0
SSIM_WIN = 11
#: MS-SSIM: 4 downsamplings of a valid 11-px window need more than (11 - 1) * 2**4 = 160 px per side.
MS_SSIM_MIN_SIDE = (SSIM_WIN - 1) * 2**4 + 1


def mse(reference: np.ndarray, image: np.ndarray) -> float:
    """Mean squared error over all H*W*3 uint8 values (float64), in (8-bit value)^2."""
    ref, img = check_pair(reference, image)
    diff = ref.astype(np.float64) - img.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr_from_mse(mse_value: float) -> float:
    """PSNR in dB for an 8-bit MSE; ``inf`` when the MSE is 0."""
    if mse_value < 0:
        raise ValueError(f"mse_value must be >= 0, got {mse_value}")
    return float("inf") if mse_value == 0 else float(10.0 * np.log10(PEAK**2 / mse_value))


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB of ``image`` against ``reference`` (uint8 (H, W, 3), peak 255, all channels).

    Returns ``inf`` for identical images.
    """
    return psnr_from_mse(mse(reference, image))


def mean_psnr(values: Iterable[float]) -> float:
    """The usual set-level PSNR: the arithmetic mean of per-image PSNR in dB.

    This is what codec papers and CompressAI report for Kodak. It differs from
    ``psnr_of_mean_mse`` (PSNR of the MSE averaged over images), which weights badly
    reconstructed images more; say which one a table uses. An ``inf`` (identical image) makes the
    mean ``inf``.
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("values is empty: need at least one per-image PSNR")
    return float(np.mean(vals))


def psnr_of_mean_mse(mse_values: Iterable[float]) -> float:
    """PSNR of the MSE averaged over images (the alternative to ``mean_psnr``)."""
    vals = [float(v) for v in mse_values]
    if not vals:
        raise ValueError("mse_values is empty: need at least one per-image MSE")
    return psnr_from_mse(float(np.mean(vals)))


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """float32 (1, 3, H, W) in [0, 255] (float64 doubles the time for < 1e-6 change)."""
    return to_tensor(arr, 0, 255)


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """SSIM (pytorch-msssim, settings in the module docstring) in [-1, 1]; 1.0 for identical images.

    Both sides must be at least 11 px (the window).
    """
    ref, img = check_pair(reference, image)
    if min(ref.shape[:2]) < SSIM_WIN:
        raise MetricNotApplicable(f"SSIM needs both sides >= {SSIM_WIN} px (the window); got {ref.shape[:2]}")
    with torch.no_grad():
        return float(_ssim(_to_tensor(ref), _to_tensor(img), data_range=PEAK, size_average=True))


def ms_ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """MS-SSIM (pytorch-msssim, 5 scales, standard weights) in [0, 1]; 1.0 for identical images.

    Raises ``MetricNotApplicable`` (a ``ValueError``) when a side is <= 160 px (too small for 5 scales).
    """
    ref, img = check_pair(reference, image)
    if min(ref.shape[:2]) < MS_SSIM_MIN_SIDE:
        raise MetricNotApplicable(
            f"MS-SSIM with 5 scales needs both sides > {MS_SSIM_MIN_SIDE - 1} px; image is "
            f"{ref.shape[0]}x{ref.shape[1]} (use ssim for small images)"
        )
    with torch.no_grad():
        return float(_ms_ssim(_to_tensor(ref), _to_tensor(img), data_range=PEAK, size_average=True))


@METRICS.register("psnr")
class PSNR(Metric):
    """PSNR in dB (higher is better); see ``psnr``."""

    label = "PSNR [dB]"

    name = "psnr"

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return psnr(reference, image)


@METRICS.register("mse")
class MSE(Metric):
    """MSE in 8-bit units squared (lower is better); see ``mse``."""

    label = "MSE [(8-bit)$^2$]"

    name = "mse"
    higher_is_better = False

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return mse(reference, image)


@METRICS.register("ssim")
class SSIM(Metric):
    """SSIM in [-1, 1] (higher is better); see ``ssim``."""

    label = "SSIM"

    name = "ssim"

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return ssim(reference, image)


@METRICS.register("ms-ssim")
class MSSSIM(Metric):
    """MS-SSIM in [0, 1] (higher is better); see ``ms_ssim``."""

    label = "MS-SSIM"

    name = "ms-ssim"

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return ms_ssim(reference, image)
