"""Versions and git commit recorded with every result, so that a table says what made it."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

_PACKAGES = ["mtgc-link", "torch", "sionna-no-rt", "numpy", "pillow", "av", "diffusers", "transformers"]


@functools.cache
def versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@functools.cache
def git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        res = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        commit = res.stdout.strip() if res.returncode == 0 else "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return commit + ("+dirty" if dirty and commit != "unknown" else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
