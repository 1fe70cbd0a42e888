"""Channel-model factories on Sionna (frequency domain, one single-antenna TX and RX).

Every model has unit average power gain E|h|^2 = 1, so SNR keeps its meaning Es/N0 per data RE at the
receiver on average. Models are sampled per slot (one batch example = one slot):
- "awgn": h = 1.
- "rayleigh": flat block fading, one CN(0,1) gain per slot (Sionna ``RayleighBlockFading``).
- "tdl": TR 38.901 TDL-A..E with delay spread, UE speed (Doppler) and carrier frequency.
- "cdl": TR 38.901 CDL-A..E, single omni antenna at both ends, uplink.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # channels.config imports this module (the registry); type hints only
    from channels.config import ChannelConfig

# Registry of channel models: name -> factory(ChannelConfig, device) returning a Sionna channel-impulse-
# response model, or None for "no fading" (AWGN). Adding a model is one decorated function. This is the one
# list of channel model names: ChannelConfig, the sweep config and the CLI all read it.
ChannelFactory = Callable[["ChannelConfig", str], Any]
CHANNEL_MODELS: dict[str, ChannelFactory] = {}


def register_channel_model(name: str) -> Callable[[ChannelFactory], ChannelFactory]:
    def deco(factory: ChannelFactory) -> ChannelFactory:
        if name in CHANNEL_MODELS:
            raise ValueError(f"channel model {name!r} is already registered")
        CHANNEL_MODELS[name] = factory
        return factory

    return deco


def check_channel_model(name: str) -> str:
    """``name`` if it is a registered channel model; else ValueError listing the known ones."""
    if name not in CHANNEL_MODELS:
        raise ValueError(f"unknown channel model {name!r}; known: {', '.join(sorted(CHANNEL_MODELS))}")
    return name


@register_channel_model("awgn")
def _awgn(ch: ChannelConfig, device: str):
    return None


@register_channel_model("rayleigh")
def _rayleigh(ch: ChannelConfig, device: str):
    from sionna.phy.channel import RayleighBlockFading

    return RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)


@register_channel_model("tdl")
def _tdl(ch: ChannelConfig, device: str):
    from sionna.phy.channel.tr38901 import TDL

    return TDL(
        ch.profile,
        ch.delay_spread_ns * 1e-9,
        ch.carrier_hz,
        min_speed=ch.speed_mps,
        max_speed=ch.speed_mps,
        device=device,
    )


@register_channel_model("cdl")
def _cdl(ch: ChannelConfig, device: str):
    from sionna.phy.channel.tr38901 import CDL, Antenna

    def antenna():
        return Antenna("single", "V", "omni", ch.carrier_hz, device=device)

    return CDL(
        ch.profile,
        ch.delay_spread_ns * 1e-9,
        ch.carrier_hz,
        ut_array=antenna(),
        bs_array=antenna(),
        direction="uplink",
        min_speed=ch.speed_mps,
        max_speed=ch.speed_mps,
        device=device,
    )


def cir_model(ch: ChannelConfig, device: str = "cpu"):
    """Sionna channel-impulse-response model for ``ch``, or None for AWGN."""
    return CHANNEL_MODELS[ch.model](ch, device)  # ChannelConfig validated the name


def ofdm_channel(ch: ChannelConfig, resource_grid, device: str = "cpu"):
    """``OFDMChannel`` (returns y and h) for fading models, or None for AWGN. Not normalized per slot, so
    fading keeps its statistics (a per-slot normalization would remove flat Rayleigh fading entirely)."""
    model = cir_model(ch, device)
    if model is None:
        return None
    from sionna.phy.channel import OFDMChannel

    return OFDMChannel(model, resource_grid, normalize_channel=False, return_channel=True, device=device)
