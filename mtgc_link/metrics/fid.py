"""Set-level metrics: FID and KID between a set of real and a set of generated images.

Features come from our torch-only FID Inception-v3 (``inception.py``; torchmetrics' default extractor
needs torch-fidelity, which requires torchvision) or any module you pass.

- FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), sample covariances (n - 1). The trace
  of the square root is computed exactly from symmetric problems: the nuclear norm of A B^T /
  sqrt((n1 - 1)(n2 - 1)) (A, B the centred features) when the sets are smaller than the feature
  dimension, else the eigenvalues of S1^(1/2) S2 S1^(1/2). torchmetrics' FrechetInceptionDistance
  takes the eigenvalues of the non-symmetric 2048 x 2048 product, which costs about a minute on a
  shared 2-core CPU; the tests check both give the same value.
- KID = unbiased MMD^2 with the cubic polynomial kernel (torchmetrics' ``poly_mmd``), mean and std over
  random subsets drawn with a seeded generator.

Usage::

    fid = FID()                     # raises MetricUnavailable when the Inception weights are missing
    fid.update(originals, real=True)
    fid.update(reconstructions, real=False)
    value = fid.compute()

Inputs: a list of numpy uint8 (H, W, 3) RGB images (sizes may differ) or an array (N, H, W, 3); they are
scaled to [0, 1] here and resized to 299 x 299 inside the extractor. FID >= 0, lower is better, needs
>= 2 images per side and is strongly biased for small sets (use thousands of images for numbers
comparable with papers). KID can be slightly negative when both sets come from one distribution.
Weights: ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid), looked for as in ``weights.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from mtgc_link.images import check_image, to_tensor
from mtgc_link.metrics.base import MetricUnavailable
from mtgc_link.metrics.inception import FID_INCEPTION_FILE, FID_INCEPTION_URL, load_fid_inception
from mtgc_link.metrics.weights import find_weight_file


def fid_inception_availability(weights_dir: str | os.PathLike | None = None) -> tuple[bool, str | None]:
    """Whether the FID Inception weights can be found, and why not."""
    lookup = find_weight_file(FID_INCEPTION_FILE, weights_dir)
    if lookup.path is None:
        return False, lookup.missing_reason("pytorch-fid's Inception-v3 weights", FID_INCEPTION_URL)
    return True, None


def default_extractor(weights_dir: str | os.PathLike | None = None) -> nn.Module:
    """The FID Inception-v3 with its weights; raises ``MetricUnavailable`` with the reason when missing."""
    ok, reason = fid_inception_availability(weights_dir)
    if not ok:
        raise MetricUnavailable(f"fid/kid: {reason}")
    path = find_weight_file(FID_INCEPTION_FILE, weights_dir).path
    try:
        return load_fid_inception(path)
    except (ValueError, RuntimeError, OSError, EOFError) as exc:
        raise MetricUnavailable(f"fid/kid: could not load {path}: {exc}") from exc


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between two feature sets (n1, D) and (n2, D), n1, n2 >= 2 (float64 inside)."""
    a = real.double() - real.double().mean(0)
    b = fake.double() - fake.double().mean(0)
    n1, n2, dim = a.shape[0], b.shape[0], a.shape[1]
    mean_term = float(((real.double().mean(0) - fake.double().mean(0)) ** 2).sum())
    tr1, tr2 = float((a**2).sum()) / (n1 - 1), float((b**2).sum()) / (n2 - 1)
    if n1 * n2 <= dim * dim:
        # eig(S1 S2) \ {0} = eig(M M^T) / ((n1-1)(n2-1)) with M = A B^T, so tr sqrt = nuclear norm of M.
        tr_sqrt = float(torch.linalg.matrix_norm(a @ b.T, ord="nuc")) / float(np.sqrt((n1 - 1) * (n2 - 1)))
    else:
        s1, s2 = a.T @ a / (n1 - 1), b.T @ b / (n2 - 1)
        vals, vecs = torch.linalg.eigh(s1)
        root = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T
        tr_sqrt = float(torch.linalg.eigvalsh(root @ s2 @ root).clamp(min=0).sqrt().sum())
    return mean_term + tr1 + tr2 - 2 * tr_sqrt


def _batches(images: Iterable[np.ndarray] | np.ndarray) -> Iterable[torch.Tensor]:
    """Float [0, 1] (n, 3, H, W) tensors, one per run of consecutive images of equal size."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError("images must be a list of (H, W, 3) images or an array (N, H, W, 3), got one image")
    run: list[np.ndarray] = []
    for i, img in enumerate(images):
        check_image(img, f"images[{i}]")
        if run and run[0].shape != img.shape:
            yield _stack(run)
            run = []
        run.append(img)
    if run:
        yield _stack(run)


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    return to_tensor(np.stack(images))


class _SetMetric:
    """Keeps the features of the real and generated sets; ``compute`` compares them."""

    what = "set metric"

    def __init__(
        self,
        feature_extractor: nn.Module | None = None,
        weights_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        batch_size: int = 16,
    ) -> None:
        extractor = feature_extractor if feature_extractor is not None else default_extractor(weights_dir)
        self.device = torch.device(device)
        self.extractor = extractor.to(self.device).eval()
        self.batch_size = batch_size
        self.features: dict[str, list[torch.Tensor]] = {"real": [], "fake": []}

    def update(self, images: Iterable[np.ndarray] | np.ndarray, real: bool) -> None:
        """Add images to the real (``real=True``) or generated (``real=False``) set."""
        side = "real" if real else "fake"
        with torch.no_grad():
            for batch in _batches(images):
                for chunk in batch.split(self.batch_size):
                    self.features[side].append(self.extractor(chunk.to(self.device)).double().cpu())

    def reset(self) -> None:
        self.features = {"real": [], "fake": []}

    def _sets(self) -> tuple[torch.Tensor, torch.Tensor]:
        sets = {side: torch.cat(f) if f else torch.zeros(0, 1) for side, f in self.features.items()}
        for side, feats in sets.items():
            if feats.shape[0] < 2:
                raise ValueError(f"{self.what} needs at least 2 {side} images, got {feats.shape[0]}")
        return sets["real"], sets["fake"]


class FID(_SetMetric):
    """Fréchet Inception Distance between the real and generated sets (lower is better).

    ``feature_extractor``: a module mapping float (N, 3, H, W) in [0, 1] to (N, D); default the FID
    Inception-v3 (2048-d pool3 features, weights looked up offline).
    """

    what = "FID"

    def compute(self) -> float:
        return frechet_distance(*self._sets())


class KID(_SetMetric):
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) between the two sets.

    ``compute()`` returns ``(mean, std)`` over ``subsets`` random subsets of ``subset_size`` images
    per side; when a set is smaller than ``subset_size``, the subset size becomes the smaller set's
    size (recorded in ``subset_size_used``). ``seed`` fixes the subset draws.
    """

    what = "KID"

    def __init__(self, *args, subsets: int = 100, subset_size: int = 1000, seed: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if subsets < 1 or subset_size < 2:
            raise ValueError(f"need subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed
        self.subset_size_used: int | None = None

    def compute(self) -> tuple[float, float]:
        from torchmetrics.image.kid import poly_mmd  # lazy: importing torchmetrics takes seconds

        real, fake = self._sets()
        m = self.subset_size_used = min(self.subset_size, real.shape[0], fake.shape[0])
        gen = torch.Generator().manual_seed(self.seed)
        scores = torch.stack(
            [
                poly_mmd(
                    real[torch.randperm(real.shape[0], generator=gen)[:m]],
                    fake[torch.randperm(fake.shape[0], generator=gen)[:m]],
                )
                for _ in range(self.subsets)
            ]
        )
        return float(scores.mean()), float(scores.std(unbiased=False))
