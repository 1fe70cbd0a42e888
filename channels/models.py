"""Channel-model factories on Sionna (frequency domain, one single-antenna TX and RX).

Every model has unit average power gain E|h|^2 = 1, so SNR keeps its meaning Es/N0 per data RE at the
receiver on average. Models are sampled per slot (one batch example = one slot):
- "awgn": h = 1.
- "rayleigh": flat block fading, one CN(0,1) gain per slot (Sionna ``RayleighBlockFading``).
- "tdl": TR 38.901 TDL-A..E with delay spread, UE speed (Doppler) and carrier frequency.
- "cdl": TR 38.901 CDL-A..E, single omni antenna at both ends, uplink.
"""

from __future__ import annotations

from channels.config import ChannelConfig


def cir_model(ch: ChannelConfig, device: str = "cpu"):
    """Sionna channel-impulse-response model for ``ch``, or None for AWGN."""
    if ch.model == "awgn":
        return None
    if ch.model == "rayleigh":
        from sionna.phy.channel import RayleighBlockFading

        return RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)
    delay_spread = ch.delay_spread_ns * 1e-9
    if ch.model == "tdl":
        from sionna.phy.channel.tr38901 import TDL

        return TDL(
            ch.profile,
            delay_spread,
            ch.carrier_hz,
            min_speed=ch.speed_mps,
            max_speed=ch.speed_mps,
            device=device,
        )
    if ch.model == "cdl":
        from sionna.phy.channel.tr38901 import CDL, Antenna

        def antenna():
            return Antenna("single", "V", "omni", ch.carrier_hz, device=device)

        return CDL(
            ch.profile,
            delay_spread,
            ch.carrier_hz,
            ut_array=antenna(),
            bs_array=antenna(),
            direction="uplink",
            min_speed=ch.speed_mps,
            max_speed=ch.speed_mps,
            device=device,
        )
    raise ValueError(f"unknown channel model {ch.model!r}")  # unreachable: ChannelConfig validates


def ofdm_channel(ch: ChannelConfig, resource_grid, device: str = "cpu"):
    """``OFDMChannel`` (returns y and h) for fading models, or None for AWGN. Not normalized per slot, so
    fading keeps its statistics (a per-slot normalization would remove flat Rayleigh fading entirely)."""
    model = cir_model(ch, device)
    if model is None:
        return None
    from sionna.phy.channel import OFDMChannel

    return OFDMChannel(model, resource_grid, normalize_channel=False, return_channel=True, device=device)
