"""LPIPS / DISTS loading paths, end to end, with random backbone weights the test writes under
torchvision's file names. Random weights give meaningless scores: only properties that hold for any
weights are asserted (d(x, x) = 0, symmetry, finiteness), plus equality with torchmetrics' own
LPIPS/DISTS forward given the same weights."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mtgc_link.metrics import MetricUnavailable, compute_metrics
from mtgc_link.metrics.backbones import ALEXNET_FILE, VGG16_FILE, alexnet_features, vgg16_features
from mtgc_link.metrics.perceptual import DISTS, LPIPSVGG, LPIPSAlex, to_tensor


@pytest.fixture(scope="module")
def random_backbones(tmp_path_factory):
    """A weights folder with torchvision-format state dicts (random init, seed 0)."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    for filename, make in ((ALEXNET_FILE, alexnet_features), (VGG16_FILE, vgg16_features)):
        state = {f"features.{k}": v for k, v in make().state_dict().items()}
        state["classifier.1.weight"] = torch.zeros(4, 4)  # real files also hold a classifier: ignored
        torch.save(state, folder / filename)
    return folder


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """Empty $MTGC_LINK_WEIGHTS and torch hub cache, so only what a test provides is found."""
    monkeypatch.setenv("MTGC_LINK_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


def _images(seed: int = 0, shape=(32, 40, 3)):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, size=shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize(
    "cls, missing", [(LPIPSAlex, ALEXNET_FILE), (LPIPSVGG, VGG16_FILE), (DISTS, VGG16_FILE)]
)
def test_missing_backbone_is_reported_and_raises(no_caches, cls, missing):
    metric = cls()
    ok, reason = metric.availability()
    assert not ok
    assert missing in reason and str(no_caches / "empty") in reason and "torch_home" in reason
    assert "download.pytorch.org/models/" + missing in reason
    a, b = _images()
    with pytest.raises(MetricUnavailable, match=missing):
        metric(a, b)
    values, unavailable = compute_metrics(a, b, ["psnr", cls.name])
    assert values[cls.name] is None and missing in unavailable[cls.name]
    assert math.isfinite(values["psnr"])


@pytest.mark.parametrize("cls", [LPIPSAlex, LPIPSVGG, DISTS])
def test_loads_from_env_folder_and_has_distance_properties(no_caches, random_backbones, monkeypatch, cls):
    monkeypatch.setenv("MTGC_LINK_WEIGHTS", str(random_backbones))
    metric = cls()
    assert metric.availability() == (True, None)
    a, b = _images(1)
    d_ab, d_ba, d_aa = metric(a, b), metric(b, a), metric(a, a)
    assert math.isfinite(d_ab) and d_ab > 0
    assert d_aa == pytest.approx(0.0, abs=1e-6)
    assert d_ba == pytest.approx(d_ab, rel=1e-4, abs=1e-7)


def test_weights_dir_argument_and_hub_cache_are_searched(no_caches, random_backbones, monkeypatch):
    assert LPIPSAlex(weights_dir=random_backbones).availability() == (True, None)
    hub = no_caches / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / ALEXNET_FILE).write_bytes((random_backbones / ALEXNET_FILE).read_bytes())
    assert LPIPSAlex().availability() == (True, None)


def test_wrong_file_under_the_right_name_is_unavailable_with_reason(no_caches, random_backbones):
    (no_caches / "empty").mkdir()
    (no_caches / "empty" / ALEXNET_FILE).write_bytes((random_backbones / VGG16_FILE).read_bytes())
    a, b = _images()
    with pytest.raises(MetricUnavailable, match="could not load weights"):
        LPIPSAlex()(a, b)


@pytest.mark.parametrize(
    "net, cls, make", [("alex", LPIPSAlex, alexnet_features), ("vgg", LPIPSVGG, vgg16_features)]
)
def test_lpips_equals_torchmetrics_forward(random_backbones, monkeypatch, net, cls, make):
    import torchmetrics.functional.image.lpips as tm_lpips

    ours = cls(weights_dir=random_backbones).network()  # heads: torchmetrics' bundled v0.1 files
    features = make()
    features.load_state_dict(ours.features.state_dict())
    monkeypatch.setattr(tm_lpips, "_get_tv_model_features", lambda name, pretrained: features)
    reference = tm_lpips._LPIPS(pretrained=True, net=net).eval().double()
    ours = ours.double()  # float64 on both sides, so the comparison can be tight
    a, b = _images(2)
    x0, x1 = to_tensor(a, -1, 1).double(), to_tensor(b, -1, 1).double()
    with torch.no_grad():
        expected = float(reference(x0, x1).squeeze())
        got = float(ours(x0, x1)[0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_dists_equals_torchmetrics_forward(random_backbones, monkeypatch):
    import torchmetrics.functional.image.dists as tm_dists

    ours = DISTS(weights_dir=random_backbones).network()
    features = vgg16_features()
    features.load_state_dict(ours.features.state_dict())
    monkeypatch.setattr(tm_dists, "_TORCHVISION_AVAILABLE", True)
    monkeypatch.setattr(tm_dists, "vgg16", lambda weights: SimpleNamespace(features=features), raising=False)
    monkeypatch.setattr(tm_dists, "VGG16_Weights", SimpleNamespace(DEFAULT=None), raising=False)
    reference = tm_dists.DISTSNetwork().eval().double()
    ours = ours.double()
    a, b = _images(3)
    x0, x1 = to_tensor(a, 0, 1).double(), to_tensor(b, 0, 1).double()
    with torch.no_grad():
        expected = float(reference(x0, x1))
        got = float(ours(x0, x1)[0])
    assert got == pytest.approx(expected, rel=1e-9)
