"""Shared fixtures. ../shared/data (Kodak, BSDS500) sits beside the checkout; tests that need it skip
with a clear reason where it is absent (it is always present in CI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

# No model hub is reachable in CI: let Hugging Face loaders fail at once instead of retrying the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
KODAK = SHARED_DATA / "kodak"
BSDS = SHARED_DATA / "bsds500"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op torch thread for the whole run. On this project's 2-core machines OpenMP's spin-waiting
    threads cost far more than they give: measured LDPC decoding ~5x and tiny-model generation up to 40x
    slower in wall time with two threads. (Worker processes of the sweep set their own.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    return _need(KODAK)


@pytest.fixture(scope="session")
def kodak_images(kodak_dir) -> dict[str, np.ndarray]:
    from PIL import Image

    return {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in sorted(kodak_dir.glob("kodim*.png"))}


@pytest.fixture(scope="session")
def kodak_captions(kodak_dir) -> dict[str, str]:
    return json.loads((kodak_dir / "captions.json").read_text())


@pytest.fixture(scope="session")
def bsds_dir() -> Path:
    return _need(BSDS)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()
