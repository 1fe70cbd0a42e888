"""torchvision's AlexNet and VGG16 feature extractors, defined with torch only.

torchvision cannot be installed beside our torch build, but LPIPS and DISTS need exactly these
ImageNet backbones. The layer layout and indices match ``torchvision.models.alexnet().features`` and
``vgg16().features``, so the state-dict keys (``features.<i>.weight``/``bias``) of torchvision's
checkpoint files load unchanged:

- ``alexnet-owt-7be5be79.pth``  https://download.pytorch.org/models/alexnet-owt-7be5be79.pth
- ``vgg16-397923af.pth``        https://download.pytorch.org/models/vgg16-397923af.pth

Only ``features.*`` is used; the classifier keys of those files are ignored.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from mtgc_link.metrics.weights import load_state_dict

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
VGG16_FILE = "vgg16-397923af.pth"
TORCHVISION_URL = "https://download.pytorch.org/models/"

# VGG16 ("configuration D"): channels of the 3x3 convolutions, "M" = 2x2 max-pool.
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def alexnet_features() -> nn.Sequential:
    """torchvision AlexNet ``features`` (indices 0..12). Input: ImageNet-normalised (N, 3, H, W)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def vgg16_features() -> nn.Sequential:
    """torchvision VGG16 ``features`` (indices 0..30, no batch norm)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _VGG16_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(item), kernel_size=3, padding=1), nn.ReLU()]
            in_ch = int(item)
    return nn.Sequential(*layers)


def load_features(features: nn.Sequential, path: Path) -> None:
    """Load the ``features.*`` entries of a torchvision checkpoint into ``features`` (strict: every
    convolution must be present with its shape, or a ``ValueError`` names the file and keys)."""
    state = load_state_dict(path)
    sub = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    expected = set(features.state_dict())
    missing = sorted(expected - set(sub))
    if missing:
        raise ValueError(f"{path} lacks backbone keys {missing[:4]}... (is it the right torchvision file?)")
    try:
        features.load_state_dict({k: sub[k] for k in expected})
    except RuntimeError as exc:
        raise ValueError(f"{path} does not match the backbone: {exc}") from exc
