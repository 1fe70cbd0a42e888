"""Parity with the reference implementations, where they can be installed (torchvision, pytorch-fid):
on machines without torchvision (ours: it needs another torch build) these tests skip.

Same random weights on both sides; our networks run on CUDA when it is available (TF32 off so the
comparison can be tight), the references on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

tv = pytest.importorskip("torchvision", reason="torchvision not installed (the reference backbones)")

from mtgc_link.metrics.backbones import (  # noqa: E402
    ALEXNET_FILE,
    VGG16_FILE,
    alexnet_features,
    load_features,
    vgg16_features,
)
from mtgc_link.metrics.inception import FIDInceptionV3  # noqa: E402
from mtgc_link.metrics.perceptual import DISTS, LPIPSVGG, LPIPSAlex, to_tensor  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def no_tf32(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


def _images(seed=0, shape=(64, 80, 3)):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, size=shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize(
    "ours, ref, filename",
    [(alexnet_features, "alexnet", ALEXNET_FILE), (vgg16_features, "vgg16", VGG16_FILE)],
)
def test_backbones_load_torchvision_state_dicts_and_match(tmp_path, ours, ref, filename):
    torch.manual_seed(0)
    model = getattr(tv.models, ref)(weights=None).eval()
    torch.save(model.state_dict(), tmp_path / filename)  # the full file: features and classifier
    features = ours()
    load_features(features, tmp_path / filename)
    x = torch.rand(2, 3, 64, 72)
    with torch.no_grad():
        torch.testing.assert_close(
            features.eval().to(DEVICE)(x.to(DEVICE)).cpu(), model.features(x), rtol=1e-4, atol=1e-6
        )


def _tv_features_file(net_module, folder, filename):
    """Rebuild torchvision's ``features.<i>.*`` keys from torchmetrics' sliced backbone."""
    state = {}
    for key, value in net_module.state_dict().items():
        _, index, param = key.split(".")  # "slice1.0.weight"
        state[f"features.{index}.{param}"] = value
    torch.save(state, folder / filename)


@pytest.mark.parametrize(
    "net, cls, filename", [("alex", LPIPSAlex, ALEXNET_FILE), ("vgg", LPIPSVGG, VGG16_FILE)]
)
def test_lpips_matches_torchmetrics_with_torchvision_backbone(tmp_path, net, cls, filename):
    from torchmetrics.functional.image.lpips import _LPIPS

    torch.manual_seed(0)
    reference = _LPIPS(pretrained=True, net=net, pnet_rand=True).eval()  # random torchvision backbone
    _tv_features_file(reference.net, tmp_path, filename)
    a, b = _images(1)
    with torch.no_grad():
        expected = float(reference(to_tensor(a, -1, 1), to_tensor(b, -1, 1)).squeeze())
    got = cls(weights_dir=tmp_path, device=DEVICE)(a, b)
    assert got == pytest.approx(expected, rel=1e-4)


def test_dists_matches_torchmetrics_with_torchvision_vgg(tmp_path, monkeypatch):
    import torchmetrics.functional.image.dists as tm_dists

    torch.manual_seed(0)
    vgg = tv.models.vgg16(weights=None).eval()
    torch.save(vgg.state_dict(), tmp_path / VGG16_FILE)
    monkeypatch.setattr(tm_dists, "vgg16", lambda weights: vgg)  # no download: same random VGG
    reference = tm_dists.DISTSNetwork().eval()
    a, b = _images(2)
    with torch.no_grad():
        expected = float(reference(to_tensor(a, 0, 1), to_tensor(b, 0, 1)))
    got = DISTS(weights_dir=tmp_path, device=DEVICE)(a, b)
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_fid_inception_matches_pytorch_fid(monkeypatch):
    pf = pytest.importorskip("pytorch_fid.inception", reason="pytorch-fid not installed")
    torch.manual_seed(0)
    ours = FIDInceptionV3()
    for m in ours.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so BN is really exercised
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    state = dict(ours.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.randn(1008, 2048), torch.randn(1008)
    # pytorch-fid loads its weights by URL: hand it ours instead (its load is strict, so the key
    # names and shapes must match exactly).
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *args, **kwargs: state)
    reference = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    x = torch.rand(2, 3, 120, 150)
    with torch.no_grad():
        expected = reference(x)[0].flatten(1)
        got = ours.to(DEVICE)(x.to(DEVICE)).cpu()
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)
