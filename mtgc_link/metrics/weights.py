"""Where metric weights are looked for (offline: nothing is ever downloaded).

Search order for a weight file, first hit wins:

1. the ``weights_dir`` given to the metric (from a config),
2. the folder in the environment variable ``MTGC_LINK_WEIGHTS``,
3. torch hub's checkpoint cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``,
   by default ``~/.cache/torch/hub/checkpoints``), where torchvision and pytorch-fid store their files,
4. for small head weights only: a copy shipped inside an installed package (lpips, DISTS_pytorch,
   torchmetrics), see ``package_file``.

Files keep their upstream names (e.g. torchvision's ``alexnet-owt-7be5be79.pth``), so a folder filled
by ``torch.hub`` on a machine with internet can be copied as is.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

WEIGHTS_ENV = "MTGC_LINK_WEIGHTS"


@dataclass
class Lookup:
    """Result of looking for one file: ``path`` (None when missing) and the places searched."""

    filename: str
    path: Path | None
    searched: list[str] = field(default_factory=list)

    def missing_reason(self, what: str, url: str | None = None) -> str:
        where = "; ".join(self.searched) or "nowhere (no folder configured)"
        how = f"download {url} " if url else "obtain it "
        return (
            f"needs {what} {self.filename!r}, not found in: {where}. To enable it, {how}"
            f"on a machine with internet and save it as ${WEIGHTS_ENV}/{self.filename} "
            f"or {hub_checkpoints_dir() / self.filename}"
        )


def hub_checkpoints_dir() -> Path:
    """torch hub's checkpoint folder (honours ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(weights_dir: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Folders to search, in order, each with a label saying where it came from."""
    dirs: list[tuple[Path, str]] = []
    if weights_dir is not None:
        dirs.append((Path(weights_dir), "weights_dir"))
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        dirs.append((Path(env), f"${WEIGHTS_ENV}"))
    dirs.append((hub_checkpoints_dir(), "torch hub cache"))
    return dirs


def package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing it (lpips and DISTS_pytorch
    import torchvision at import time, which is not installable beside our torch)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / relative
        if path.is_file():
            return path
    return None


def find_weight_file(
    filename: str,
    weights_dir: str | os.PathLike | None = None,
    subdir: str | None = None,
    packages: tuple[tuple[str, str], ...] = (),
) -> Lookup:
    """Look for ``filename`` (or ``subdir/filename``) in ``search_dirs`` and then in ``packages``
    (pairs ``(package, relative path)``)."""
    rel = Path(subdir, filename) if subdir else Path(filename)
    lookup = Lookup(filename=str(rel), path=None)
    for folder, label in search_dirs(weights_dir):
        candidate = folder / rel
        lookup.searched.append(f"{folder} ({label})")
        if candidate.is_file():
            lookup.path = candidate
            return lookup
    for package, relative in packages:
        lookup.searched.append(f"package {package}/{relative}")
        found = package_file(package, relative)
        if found is not None:
            lookup.path = found
            return lookup
    return lookup


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint as tensors only (``weights_only``: no code from the file runs)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a state dict (got {type(state).__name__})")
    return state
