"""5G NR physical layer on Sionna 2.x (PyTorch): bytes in, bytes + link statistics out.

Knows bits and symbols, never images. See docs/phy.md.
"""

from channels.config import ChannelConfig, PhyConfig
from channels.link import Link, Reception

__all__ = ["ChannelConfig", "Link", "PhyConfig", "Reception"]
