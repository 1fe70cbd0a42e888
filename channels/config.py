"""Validated configuration of the NR physical layer (pydantic).

``PhyConfig`` fixes everything a :class:`channels.Link` needs: numerology, allocation, DMRS layout, MCS,
LDPC decoding, channel estimation (CSI) and the channel model (``ChannelConfig``). Invalid values raise a
``pydantic.ValidationError`` whose message names the offending field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from channels.mcs import MAX_MCS_INDEX, MIN_CODE_RATE, MODULATION_ORDERS, mcs_from_index
from channels.models import check_channel_model

PROFILES = ("A", "B", "C", "D", "E")
SUBCARRIER_SPACINGS_KHZ = (15, 30, 60, 120)
CSI_MODES = ("perfect", "ls", "lmmse")
#: PHY modes: the bit-true NR chain, or Sionna SYS's link abstraction (channels.abstraction).
PHY_MODES = ("bit_true", "abstraction")
#: The LDPC decoder the abstraction's BLER tables were simulated with (Sionna's shipped tables and ours).
ABSTRACTION_DECODER = {"ldpc_iterations": 20, "ldpc_cn_update": "boxplus-phi"}
#: SNR (Es/N0 per data RE, dB) accepted at every boundary: the CLI (``transmit``, ``phy``), sweep configs and
#: ``Link.transmit``. Outside it the simulation is meaningless (below: nothing but noise; above: the noise
#: variance underflows float32 arithmetic), so values there are refused rather than simulated.
SNR_DB_RANGE = (-50.0, 80.0)


def check_snr_db(value: float, name: str = "snr_db") -> float:
    """``value`` as a float if it is a finite SNR in :data:`SNR_DB_RANGE`, else ValueError naming ``name``.

    >>> check_snr_db(10)
    10.0
    >>> check_snr_db(float("nan"), "--snr-db")
    Traceback (most recent call last):
    ...
    ValueError: --snr-db: nan is not an SNR in [-50, 80] dB
    """
    lo, hi = SNR_DB_RANGE
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number (an SNR in [{lo:g}, {hi:g}] dB)") from None
    if isinstance(value, bool) or not lo <= v <= hi:  # nan fails the comparison
        raise ValueError(f"{name}: {value!r} is not an SNR in [{lo:g}, {hi:g}] dB")
    return v


class _Strict(BaseModel):
    # allow_inf_nan=False: every float field refuses nan and +-inf ("Input should be a finite number").
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ChannelConfig(_Strict):
    """Channel model between one single-antenna transmitter and one single-antenna receiver.

    model: a name of the registry ``channels.models.CHANNEL_MODELS`` (case-insensitive): "awgn" | "rayleigh"
        (flat block fading, one gain per slot) | "tdl" | "cdl" (3GPP TR 38.901).
    profile: TDL/CDL profile "A".."E" (ignored by awgn/rayleigh).
    delay_spread_ns: RMS delay spread in ns (TDL/CDL), > 0.
    speed_mps: UE speed in m/s (Doppler of TDL/CDL), >= 0.
    carrier_hz: carrier frequency in Hz (TDL/CDL Doppler), > 0.
    Every number must be finite (nan and inf are refused).
    """

    model: str = "awgn"
    profile: str = "A"
    delay_spread_ns: float = Field(100.0, gt=0)
    speed_mps: float = Field(0.0, ge=0)
    carrier_hz: float = Field(3.5e9, gt=0)

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return check_channel_model(v.lower())  # the registry of channels.models

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        v = v.upper()
        if v not in PROFILES:
            raise ValueError(f"unknown TDL/CDL profile {v!r}; known: {', '.join(PROFILES)}")
        return v


def _known_scs(v: int) -> int:
    if v not in SUBCARRIER_SPACINGS_KHZ:
        raise ValueError(f"subcarrier spacing {v} kHz not in {SUBCARRIER_SPACINGS_KHZ}")
    return v


def _known_table(v: int) -> int:
    if v not in MAX_MCS_INDEX:
        raise ValueError(f"MCS table {v} not supported; use 1 (64QAM) or 2 (256QAM)")
    return v


def _known_qm(v: int | None) -> int | None:
    if v is not None and v not in MODULATION_ORDERS:
        raise ValueError(f"modulation_order {v} not in {MODULATION_ORDERS} (QPSK..256QAM)")
    return v


# Single-field checks live in the field types (not in field validators), so that a model built from
# ``PhyConfig.model_fields`` (the sweep's ``PhySpec``) checks them too.
SubcarrierSpacingKhz = Annotated[int, AfterValidator(_known_scs)]
McsTable = Annotated[int, AfterValidator(_known_table)]
ModulationOrder = Annotated[int | None, AfterValidator(_known_qm)]


class PhyConfig(_Strict):
    """One NR PUSCH-like link: single layer, single antenna, frequency-domain OFDM slots.

    MCS: either ``mcs_index`` (+ ``mcs_table`` 1: 64QAM table, 2: 256QAM table, TS 38.214 5.1.3.1) or
    explicit ``modulation_order`` (bits per QAM symbol) + ``code_rate`` (target rate, CRC included).
    With neither, MCS index 14 of table 1 is used.
    csi: "perfect" (true channel), "ls" (LS on DMRS + linear interpolation), "lmmse" (LMMSE estimation from
    DMRS with channel covariances sampled from the configured model); equalization is LMMSE in all cases.
    ldpc_cn_update: check-node rule of the BP decoder (Sionna): exact "boxplus-phi" (default), or cheaper
    approximations ("minsum", "offset-minsum").
    max_batch_slots, max_batch_coded_bits: a payload's slots go through the chain as one batch of at most this
    many slots and coded bits (memory bound); longer payloads run in several such batches.
    mode: "bit_true" (the NR chain, ``channels.Link``) or "abstraction" (Sionna SYS link abstraction,
    ``channels.abstraction.AbstractLink``: which blocks arrive, ~100x faster; needs ``mcs_index`` and the
    default LDPC decoder settings, ``ABSTRACTION_DECODER``).
    """

    channel: ChannelConfig = Field(default_factory=ChannelConfig)
    num_prbs: int = Field(24, ge=1, le=275)
    subcarrier_spacing_khz: SubcarrierSpacingKhz = 30
    num_ofdm_symbols: int = Field(14, ge=4, le=14)
    dmrs_additional_position: int = Field(1, ge=0, le=3)
    dmrs_length: int = Field(1, ge=1, le=2)
    mcs_index: int | None = Field(None, ge=0)
    mcs_table: McsTable = 1
    modulation_order: ModulationOrder = None
    code_rate: float | None = Field(None, gt=0, le=948 / 1024)
    csi: Literal["perfect", "ls", "lmmse"] = "ls"
    ldpc_iterations: int = Field(20, ge=1, le=200)
    ldpc_cn_update: Literal["boxplus-phi", "boxplus", "minsum", "offset-minsum"] = "boxplus-phi"
    max_batch_slots: int = Field(256, ge=1)
    max_batch_coded_bits: int = Field(2_000_000, ge=1)
    mode: Literal["bit_true", "abstraction"] = "bit_true"

    @model_validator(mode="after")
    def _resolve_mcs(self) -> PhyConfig:
        explicit = (self.modulation_order is not None, self.code_rate is not None)
        if any(explicit) and not all(explicit):
            raise ValueError("modulation_order and code_rate must be given together")
        if all(explicit) and self.mcs_index is not None:
            raise ValueError("give either mcs_index or modulation_order + code_rate, not both")
        if self.mcs_index is not None and self.mcs_index > MAX_MCS_INDEX[self.mcs_table]:
            raise ValueError(
                f"mcs_index {self.mcs_index} out of range for mcs_table {self.mcs_table} "
                f"(0..{MAX_MCS_INDEX[self.mcs_table]})"
            )
        if not any(explicit) and self.mcs_index is None:
            object.__setattr__(self, "mcs_index", 14)
        # Sionna's 5G LDPC encoder has no repetition coding, so rates below 1/5 (MCS 0-2 of table 1,
        # MCS 0-1 of table 2) cannot be built; refuse them here rather than at the first transmission.
        rate = self.qm_and_rate[1]
        if rate < MIN_CODE_RATE:
            field = "code_rate" if self.code_rate is not None else "mcs_index"
            raise ValueError(
                f"{field}: code rate {rate:.3f} is below 1/5, the lowest rate Sionna's 5G LDPC supports"
                " (no repetition coding); use mcs_index >= 3 (table 1) or a higher code_rate"
            )
        if self.mode == "abstraction":
            if self.mcs_index is None:
                raise ValueError(
                    "mode abstraction: give mcs_index (the BLER tables are per MCS), not modulation_order +"
                    " code_rate"
                )
            for name, value in ABSTRACTION_DECODER.items():
                if getattr(self, name) != value:
                    raise ValueError(
                        f"{name}: the abstraction's BLER tables were simulated with {name}={value!r}; "
                        f"use mode bit_true for {getattr(self, name)!r}"
                    )
        if self.dmrs_length == 2 and self.dmrs_additional_position > 1:
            raise ValueError("dmrs_additional_position must be <= 1 with dmrs_length 2 (TS 38.211)")
        return self

    @property
    def qm_and_rate(self) -> tuple[int, float]:
        """(bits per QAM symbol, target code rate) of the configured MCS."""
        if self.modulation_order is not None:
            return self.modulation_order, float(self.code_rate)
        return mcs_from_index(self.mcs_index, self.mcs_table)
