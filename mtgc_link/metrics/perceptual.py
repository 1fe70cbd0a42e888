"""Learned perceptual distances: LPIPS (AlexNet, VGG16; v0.1 heads) and DISTS.

Inputs: numpy uint8 (H, W, 3) RGB in [0, 255], reference first; lower is better, 0 for identical
images. Internally LPIPS sees [-1, 1] (then its own shift/scale layer), DISTS sees [0, 1] (then
ImageNet mean/std), as in the reference implementations (richzhang/PerceptualSimilarity,
dingkeyan93/DISTS, mirrored by torchmetrics). No resizing: images are scored at full resolution.

Weights (see ``weights.py`` for the search order; nothing is downloaded):

- backbone: torchvision's ``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth`` (``backbones.py``);
- LPIPS linear heads: ``lpips/alex.pth`` / ``lpips/vgg.pth`` in a weights folder, else the v0.1 files of
  an installed ``lpips`` package or the identical copies bundled with torchmetrics;
- DISTS alpha/beta: ``dists/weights.pt`` in a weights folder, else ``DISTS_pytorch`` or torchmetrics.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from mtgc_link.images import to_tensor
from mtgc_link.metrics.backbones import (
    ALEXNET_FILE,
    TORCHVISION_URL,
    VGG16_FILE,
    alexnet_features,
    load_features,
    vgg16_features,
)
from mtgc_link.metrics.base import METRICS, Metric, MetricUnavailable, check_pair
from mtgc_link.metrics.weights import Lookup, find_weight_file, load_state_dict

# ReLU outputs tapped by LPIPS / DISTS (indices in torchvision's ``features``).
_TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
_BACKBONE = {"alex": (ALEXNET_FILE, alexnet_features), "vgg": (VGG16_FILE, vgg16_features)}


class _NetLin(nn.Module):
    """LPIPS 1x1 head; attribute names give the upstream keys ``lin<k>.model.1.weight``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))


class LPIPSNet(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018).

    Input: two float tensors (N, 3, H, W) in [-1, 1]. Output: (N,) distances, >= 0.
    """

    def __init__(self, net: str) -> None:
        super().__init__()
        if net not in _TAPS:
            raise ValueError(f"net must be one of {sorted(_TAPS)}, got {net!r}")
        self.taps = _TAPS[net]
        self.features = _BACKBONE[net][1]()
        for k, ch in enumerate(_CHANNELS[net]):
            self.add_module(f"lin{k}", _NetLin(ch))
        # LPIPS' ScalingLayer: maps [-1, 1] inputs to ImageNet statistics.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.eval()

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        h = (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                outs.append(h)
            if i == self.taps[-1]:
                break
        return outs

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
        for k, (f0, f1) in enumerate(zip(self._taps(x0), self._taps(x1), strict=True)):
            # Unit-normalise along channels (eps as upstream), squared difference, learned 1x1 weights.
            f0 = f0 / torch.sqrt(1e-8 + (f0**2).sum(1, keepdim=True))
            f1 = f1 / torch.sqrt(1e-8 + (f1**2).sum(1, keepdim=True))
            total = total + getattr(self, f"lin{k}").model((f0 - f1) ** 2).mean(dim=(1, 2, 3))
        return total


class DISTSNet(nn.Module):
    """DISTS (Ding et al. 2020): VGG16 with L2 pooling instead of max pooling.

    Input: two float tensors (N, 3, H, W) in [0, 1]. Output: (N,) distances (0 for identical inputs).
    """

    _POOLS = {4: 64, 9: 128, 16: 256, 23: 512}
    _TAPS = (3, 8, 15, 22, 29)
    CHANNELS = (3, 64, 128, 256, 512, 512)

    def __init__(self) -> None:
        # Imported here: importing torchmetrics takes seconds, and most users of this package need
        # only PSNR / MS-SSIM.
        from torchmetrics.functional.image.dists import L2pooling

        super().__init__()
        self.features = vgg16_features()
        self.pools = nn.ModuleDict({str(i): L2pooling(channels=c) for i, c in self._POOLS.items()})
        total = sum(self.CHANNELS)
        self.alpha = nn.Parameter(torch.full((1, total, 1, 1), 0.1))
        self.beta = nn.Parameter(torch.full((1, total, 1, 1), 0.1))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.eval()

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]  # DISTS also compares the raw [0, 1] image (the first 3 alpha/beta channels)
        h = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = self.pools[str(i)](h) if str(i) in self.pools else layer(h)
            if i in self._TAPS:
                outs.append(h)
            if i == self._TAPS[-1]:
                break
        return outs

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        c1 = c2 = 1e-6
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, self.CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, self.CHANNELS, dim=1)
        texture = structure = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
        for f0, f1, a, b in zip(self._taps(x0), self._taps(x1), alphas, betas, strict=True):
            m0, m1 = f0.mean((2, 3), keepdim=True), f1.mean((2, 3), keepdim=True)
            v0, v1 = ((f0 - m0) ** 2).mean((2, 3), keepdim=True), ((f1 - m1) ** 2).mean((2, 3), keepdim=True)
            cov = (f0 * f1).mean((2, 3), keepdim=True) - m0 * m1
            texture = texture + (a * (2 * m0 * m1 + c1) / (m0**2 + m1**2 + c1)).sum((1, 2, 3))
            structure = structure + (b * (2 * cov + c2) / (v0 + v1 + c2)).sum((1, 2, 3))
        return 1 - (texture + structure)


class _NetworkMetric(Metric):
    """A metric backed by a network whose weights are found lazily; unavailable when they are missing."""

    higher_is_better = False

    def __init__(self, weights_dir: str | os.PathLike | None = None, device: str = "cpu") -> None:
        self.weights_dir = weights_dir
        self.device = torch.device(device)
        self._net: nn.Module | None = None

    def _lookups(self) -> list[tuple[Lookup, str, str | None]]:
        """(lookup, what it is for, download URL) for every file the metric needs."""
        raise NotImplementedError

    def _build(self, paths: list) -> nn.Module:
        raise NotImplementedError

    def availability(self) -> tuple[bool, str | None]:
        missing = [lk.missing_reason(what, url) for lk, what, url in self._lookups() if lk.path is None]
        return (False, " | ".join(missing)) if missing else (True, None)

    def network(self) -> nn.Module:
        """The loaded network (built on first use); raises ``MetricUnavailable`` when weights are missing."""
        if self._net is None:
            self.require_available()
            paths = [lk.path for lk, _, _ in self._lookups()]
            try:
                net = self._build(paths)
            except (ValueError, RuntimeError, OSError, EOFError) as exc:  # wrong or damaged file
                raise MetricUnavailable(f"{self.name}: could not load weights {paths}: {exc}") from exc
            for p in net.parameters():
                p.requires_grad_(False)
            self._net = net.to(self.device).eval()
        return self._net


class _LPIPS(_NetworkMetric):
    net = "alex"

    def _lookups(self) -> list[tuple[Lookup, str, str | None]]:
        backbone_file = _BACKBONE[self.net][0]
        return [
            (
                find_weight_file(backbone_file, self.weights_dir),
                f"torchvision's {'AlexNet' if self.net == 'alex' else 'VGG16'} checkpoint",
                TORCHVISION_URL + backbone_file,
            ),
            (
                find_weight_file(
                    f"{self.net}.pth",
                    self.weights_dir,
                    subdir="lpips",
                    packages=(
                        ("lpips", f"weights/v0.1/{self.net}.pth"),
                        ("torchmetrics", f"functional/image/lpips_models/{self.net}.pth"),
                    ),
                ),
                "the LPIPS v0.1 linear heads",
                f"https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/{self.net}.pth",
            ),
        ]

    def _build(self, paths: list) -> nn.Module:
        net = LPIPSNet(self.net)
        load_features(net.features, paths[0])
        heads = {k: v for k, v in load_state_dict(paths[1]).items() if k.startswith("lin")}
        expected = {k for k in net.state_dict() if k.startswith("lin")}
        if set(heads) != expected:
            raise MetricUnavailable(
                f"{self.name}: {paths[1]} has keys {sorted(heads)}, expected {sorted(expected)}"
            )
        net.load_state_dict(heads, strict=False)
        return net

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        """LPIPS distance >= 0 (lower is better); uint8 RGB in, mapped to [-1, 1] inside."""
        ref, img = check_pair(reference, image)
        net = self.network()
        with torch.no_grad():
            return float(net(to_tensor(ref, -1, 1, self.device), to_tensor(img, -1, 1, self.device))[0])


@METRICS.register("lpips-alex")
class LPIPSAlex(_LPIPS):
    """LPIPS v0.1 with the AlexNet backbone (the LPIPS paper's default)."""

    label = "LPIPS (AlexNet)"

    name = "lpips-alex"
    net = "alex"


@METRICS.register("lpips-vgg")
class LPIPSVGG(_LPIPS):
    """LPIPS v0.1 with the VGG16 backbone (common as a perceptual loss)."""

    label = "LPIPS (VGG)"

    name = "lpips-vgg"
    net = "vgg"


@METRICS.register("dists")
class DISTS(_NetworkMetric):
    """DISTS distance (lower is better, 0 for identical images); uint8 RGB in, mapped to [0, 1] inside."""

    label = "DISTS"

    name = "dists"

    def _lookups(self) -> list[tuple[Lookup, str, str | None]]:
        return [
            (
                find_weight_file(VGG16_FILE, self.weights_dir),
                "torchvision's VGG16 checkpoint",
                TORCHVISION_URL + VGG16_FILE,
            ),
            (
                find_weight_file(
                    "weights.pt",
                    self.weights_dir,
                    subdir="dists",
                    packages=(
                        ("DISTS_pytorch", "weights.pt"),
                        ("torchmetrics", "functional/image/dists_models/weights.pt"),
                    ),
                ),
                "the DISTS alpha/beta weights",
                "https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt",
            ),
        ]

    def _build(self, paths: list) -> nn.Module:
        net = DISTSNet()
        load_features(net.features, paths[0])
        ab = load_state_dict(paths[1])
        if set(ab) < {"alpha", "beta"} or ab["alpha"].shape != net.alpha.shape:
            raise MetricUnavailable(f"dists: {paths[1]} is not a DISTS alpha/beta file (keys {sorted(ab)})")
        net.alpha.data.copy_(ab["alpha"])
        net.beta.data.copy_(ab["beta"])
        return net

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        ref, img = check_pair(reference, image)
        net = self.network()
        with torch.no_grad():
            return float(net(to_tensor(ref, 0, 1, self.device), to_tensor(img, 0, 1, self.device))[0])
