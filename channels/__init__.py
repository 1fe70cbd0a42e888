"""5G NR physical layer on Sionna 2.x (PyTorch): bytes in, bytes + link statistics out.

Knows bits and symbols, never images. See docs/phy.md.

The names below are loaded on first use, so that ``import channels.models`` (the channel-model registry, which
the CLI reads for its help) stays as light as ``import typing``; torch and Sionna are imported only where a
link is built or run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels.config import ChannelConfig, PhyConfig
    from channels.link import Link, Reception

__all__ = ["ChannelConfig", "Link", "PhyConfig", "Reception"]

_SUBMODULES = ("config", "link", "mcs", "models", "sim")


def __getattr__(name: str):
    if name in ("ChannelConfig", "PhyConfig"):
        from channels import config as module
    elif name in ("Link", "Reception"):
        from channels import link as module
    elif name in _SUBMODULES:  # ``import channels; channels.mcs...`` as when this file imported them eagerly
        return importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
