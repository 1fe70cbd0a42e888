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

from mtgc_link.registry import Registry


class MetricUnavailable(RuntimeError):
    """The metric cannot run here (missing weights or package); the message says why."""


class Metric(ABC):
    name: str = "metric"
    higher_is_better: bool = True

    def availability(self) -> tuple[bool, str | None]:
        return True, None

    @abstractmethod
    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float: ...


METRICS: Registry[type[Metric]] = Registry("metric")
