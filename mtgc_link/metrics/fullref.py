"""Weight-free full-reference perceptual metrics: HaarPSI and GMSD (piq), VIF-p (torchmetrics).

They need no network weights, so they run here where LPIPS, DISTS and CLIP score cannot, and judge
reconstructions by structure, gradients and information fidelity rather than by PSNR alone.

- ``haarpsi``  HaarPSI (Reisenhofer et al. 2018) in [0, 1], higher is better; piq defaults (scales=3,
  subsample=True, c=30, alpha=4.2) on [0, 1] RGB.
- ``gmsd``     Gradient Magnitude Similarity Deviation (Xue et al. 2014), >= 0, lower is better; piq defaults
  (on the luma channel, images downsampled x2 as in the paper).
- ``vif``      pixel-domain VIF-p (Sheikh & Bovik 2006), higher is better (1 for identical images; above 1 for
  contrast enhancement); torchmetrics ``visual_information_fidelity`` (sigma_n_sq=2.0), mean over channels.

piq 0.8's ``__init__`` imports torchvision for its VGG-based metrics (we use none of them, and torchvision
has no build beside this project's torch); so piq is installed without dependencies (the Makefile does it)
and only its weight-free modules are imported, through a package object that skips that ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from functools import cache
from pathlib import Path

import numpy as np
import torch

from mtgc_link.images import to_tensor
from mtgc_link.metrics.base import METRICS, Metric, MetricNotApplicable, MetricUnavailable, check_pair

HAARPSI_MIN_SIDE = 32  # 3 Haar scales on a x2-subsampled image
GMSD_MIN_SIDE = 8
VIF_MIN_SIDE = 41  # torchmetrics: 4 scales with a 17-px kernel at the coarsest


@cache
def _piq_module(name: str):
    """``piq.<name>`` without running piq/__init__.py (which imports torchvision). Raises
    MetricUnavailable naming the install command when piq is absent."""
    if "piq" in sys.modules and hasattr(sys.modules["piq"], name):
        return getattr(sys.modules["piq"], name)
    spec = importlib.util.find_spec("piq") if "piq" not in sys.modules else sys.modules["piq"].__spec__
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable("package piq is not installed (`pip install --no-deps piq==0.8.0`)")
    if "piq" not in sys.modules:
        package = types.ModuleType("piq")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = str(Path(spec.origin or "")) if spec.origin else None
        sys.modules["piq"] = package
    return importlib.import_module(f"piq.{name}")


def _sized(ref: np.ndarray, img: np.ndarray, min_side: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    ref, img = check_pair(ref, img)
    if min(ref.shape[:2]) < min_side:
        h, w = ref.shape[:2]
        raise MetricNotApplicable(f"{name} needs both sides >= {min_side} px; got {h}x{w}")
    return ref, img


def haarpsi(reference: np.ndarray, image: np.ndarray) -> float:
    """HaarPSI in [0, 1] (1.0 for identical images). Inputs uint8 (H, W, 3), sides >= 32 px."""
    ref, img = _sized(reference, image, HAARPSI_MIN_SIDE, "HaarPSI")
    with torch.no_grad():
        return float(_piq_module("haarpsi").haarpsi(to_tensor(img), to_tensor(ref), data_range=1.0))


def gmsd(reference: np.ndarray, image: np.ndarray) -> float:
    """GMSD >= 0 (0.0 for identical images). Inputs uint8 (H, W, 3), sides >= 8 px."""
    ref, img = _sized(reference, image, GMSD_MIN_SIDE, "GMSD")
    with torch.no_grad():
        return float(_piq_module("gmsd").gmsd(to_tensor(img), to_tensor(ref), data_range=1.0))


def vif(reference: np.ndarray, image: np.ndarray) -> float:
    """Pixel-domain VIF (VIF-p), 1.0 for identical images. Inputs uint8 (H, W, 3), sides >= 41 px."""
    from torchmetrics.functional.image import visual_information_fidelity

    ref, img = _sized(reference, image, VIF_MIN_SIDE, "VIF")
    with torch.no_grad():  # torchmetrics wants (preds, target) in [0, 255]-free units; use 8-bit values
        return float(visual_information_fidelity(to_tensor(img) * 255, to_tensor(ref) * 255))


class _PiqMetric(Metric):
    module = ""

    def availability(self) -> tuple[bool, str | None]:
        try:
            _piq_module(self.module)
        except MetricUnavailable as exc:
            return False, str(exc)
        except ImportError as exc:  # a piq whose modules import something missing
            return False, f"piq.{self.module} does not import: {exc}"
        return True, None


@METRICS.register("haarpsi")
class HaarPSI(_PiqMetric):
    """HaarPSI in [0, 1] (higher is better); see ``haarpsi``."""

    label = "HaarPSI"

    name, module = "haarpsi", "haarpsi"

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return haarpsi(reference, image)


@METRICS.register("gmsd")
class GMSD(_PiqMetric):
    """GMSD (lower is better); see ``gmsd``."""

    label = "GMSD"

    name, module, higher_is_better = "gmsd", "gmsd", False

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return gmsd(reference, image)


@METRICS.register("vif")
class VIF(Metric):
    """VIF-p (higher is better); see ``vif``."""

    label = "VIF-p"

    name = "vif"

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        return vif(reference, image)
