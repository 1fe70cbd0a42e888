"""The metric interface.

Every metric takes two images as numpy uint8 arrays of shape (H, W, 3), RGB in [0, 255]
(the reference first) and returns a float. Conversion to the range a network expects
([0, 1] or [-1, 1]) happens inside the metric, never in the caller.

A metric whose weights or packages are missing is *unavailable*: ``availability()`` returns
``(False, reason)`` and calling it raises ``MetricUnavailable`` with that reason. It is never
silently replaced by another metric.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from mtgc_link.images import check_image
from mtgc_link.registry import Registry

__all__ = ["METRICS", "Metric", "MetricNotApplicable", "MetricUnavailable", "check_image", "check_pair"]


class MetricUnavailable(RuntimeError):
    """The metric cannot run here (missing weights or package); the message says why."""


class MetricNotApplicable(ValueError):
    """The metric is defined but not for this input (e.g. an image too small for 5-scale MS-SSIM,
    or a caption metric called without a caption); the message says why."""


class Metric(ABC):
    name: str = "metric"
    #: Axis label in figures (with the unit); None: the registered name.
    label: str | None = None
    higher_is_better: bool = True
    #: True for metrics that compare ``image`` with a text caption (``caption=`` keyword) instead of
    #: with ``reference`` alone.
    needs_caption: bool = False

    def availability(self) -> tuple[bool, str | None]:
        return True, None

    def require_available(self) -> None:
        """Raise ``MetricUnavailable`` with the reason when the metric cannot run here."""
        ok, reason = self.availability()
        if not ok:
            raise MetricUnavailable(f"{self.name}: {reason}")

    @abstractmethod
    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float: ...


#: The metric registry. Built-ins: every public module of ``mtgc_link.metrics``, imported on the first
#: look-up; third-party metrics: entry points of the group ``mtgc_link.metrics`` (see registry.py).
METRICS: Registry[type[Metric]] = Registry(
    "metric", package="mtgc_link.metrics", entry_points="mtgc_link.metrics"
)


def check_pair(reference: object, image: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (reference, image) pair: both uint8 (H, W, 3) and of the same shape."""
    ref = check_image(reference, "reference")
    img = check_image(image, "image")
    if ref.shape != img.shape:
        raise ValueError(f"reference and image shapes differ: reference {ref.shape}, image {img.shape}")
    return ref, img
