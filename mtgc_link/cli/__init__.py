"""`mtgc-link` command line. Each module in ``_COMMAND_MODULES`` registers its commands on ``app``.

Heavy imports (torch, sionna, diffusers) happen inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

import importlib

from mtgc_link.cli.app import app

_COMMAND_MODULES = [
    "mtgc_link.cli.phy",  # mtgc-link phy ber|bler
    "mtgc_link.cli.codec",  # encode, decode, rd
    "mtgc_link.cli.link",  # transmit
    "mtgc_link.cli.sweep",  # sweep, plot, demo
    "mtgc_link.cli.train",  # train (MTGC)
]

for _mod in _COMMAND_MODULES:
    importlib.import_module(_mod)


def main() -> None:
    app()


__all__ = ["app", "main"]
