"""Image-quality metrics behind one interface (see ``base.Metric`` and docs/metrics.md).

Functions others call directly (uint8 (H, W, 3) RGB, reference first)::

    psnr(ref, img), ssim(ref, img), ms_ssim(ref, img)

Registry access::

    get_metric("lpips-alex")              # a Metric instance (cached per name)
    metric_status()                      # {name: (available, reason)} for every registered metric
    available_metrics()                  # names that can run here
    values, unavailable = compute_metrics(ref, img, ["psnr", "ms-ssim", "lpips-alex"], caption=None)

Set-level FID / KID: ``FID`` / ``KID`` (``update(images, real=...)``, ``compute()``); their weights:
``fid_inception_availability()``.

A metric is one file and one decorator: a module in this package (name not starting with ``_``) with
``@METRICS.register("name")`` on a ``Metric`` subclass. ``METRICS`` imports the package's modules on its first
look-up; an installed package adds metrics with an entry point in the group ``mtgc_link.metrics``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from mtgc_link.metrics.base import (
    METRICS,
    Metric,
    MetricNotApplicable,
    MetricUnavailable,
    check_image,
    check_pair,
)
from mtgc_link.metrics.fid import FID, KID, fid_inception_availability
from mtgc_link.metrics.pixel import mean_psnr, ms_ssim, mse, psnr, psnr_of_mean_mse, ssim

__all__ = [
    "FID",
    "KID",
    "METRICS",
    "Metric",
    "MetricNotApplicable",
    "MetricUnavailable",
    "available_metrics",
    "check_image",
    "check_pair",
    "compute_metrics",
    "fid_inception_availability",
    "get_metric",
    "mean_psnr",
    "metric_status",
    "ms_ssim",
    "mse",
    "psnr",
    "psnr_of_mean_mse",
    "ssim",
]


@cache
def get_metric(name: str) -> Metric:
    """The metric registered as ``name`` with its default settings (one cached instance per name, so
    network weights load once). Unknown names raise ``KeyError`` listing the known ones. For
    non-default settings (weights folder, device, CLIP model id) construct the class yourself:
    ``METRICS.get(name)(...)``."""
    return METRICS.get(name)()


def metric_status() -> dict[str, tuple[bool, str | None]]:
    """``{name: (available, reason)}`` for every registered metric (reason is None when available)."""
    return {name: get_metric(name).availability() for name in METRICS.names()}


def available_metrics() -> list[str]:
    """Names of the registered metrics that can run here (weights and packages present)."""
    return [name for name, (ok, _) in metric_status().items() if ok]


def compute_metrics(
    reference: np.ndarray, image: np.ndarray, names: list[str], caption: str | None = None
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Compute several metrics of ``image`` against ``reference`` (uint8 (H, W, 3) RGB).

    Returns ``(values, unavailable)``: ``values[name]`` is a float, or None when the metric could not
    be computed, in which case ``unavailable[name]`` says why (missing weights or package, an image too
    small for it, a caption metric without a caption). Bad input (shape mismatch, wrong dtype) and
    unknown names raise instead: they are the caller's bug, not a property of this machine.
    """
    check_pair(reference, image)
    metrics = {name: get_metric(name) for name in names}  # unknown names fail before any work
    values: dict[str, float | None] = {}
    unavailable: dict[str, str] = {}
    for name, metric in metrics.items():
        try:
            metric.require_available()
            values[name] = float(metric(reference, image, caption=caption))
        except (MetricUnavailable, MetricNotApplicable) as exc:
            values[name] = None
            unavailable[name] = str(exc)
    return values, unavailable
