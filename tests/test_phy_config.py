"""Bad PHY configurations fail at construction with an error that names the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels import ChannelConfig, PhyConfig


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(num_prbs=0), "num_prbs"),
        (dict(num_prbs=276), "num_prbs"),
        (dict(subcarrier_spacing_khz=45), "subcarrier_spacing_khz"),
        (dict(mcs_index=29, mcs_table=1), "mcs_index"),
        (dict(mcs_index=28, mcs_table=2), "mcs_index"),
        (dict(mcs_index=-1), "mcs_index"),
        (dict(mcs_index=2, mcs_table=1), "mcs_index: code rate 0.188 is below 1/5"),
        (dict(mcs_index=1, mcs_table=2), "mcs_index: code rate 0.188 is below 1/5"),
        (dict(modulation_order=2, code_rate=0.15), "code_rate: code rate 0.150 is below 1/5"),
        (dict(mcs_table=3), "mcs_table"),
        (dict(modulation_order=3, code_rate=0.5), "modulation_order"),
        (dict(modulation_order=4, code_rate=0.99), "code_rate"),
        (dict(modulation_order=4), "code_rate"),
        (dict(mcs_index=5, modulation_order=4, code_rate=0.5), "mcs_index"),
        (dict(csi="ideal"), "csi"),
        (dict(ldpc_iterations=0), "ldpc_iterations"),
        (dict(num_ofdm_symbols=15), "num_ofdm_symbols"),
        (dict(dmrs_additional_position=4), "dmrs_additional_position"),
        (dict(bogus=1), "bogus"),
    ],
)
def test_bad_phy_config_names_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        PhyConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(model="rician"), "model"),
        (dict(model="tdl", profile="F"), "profile"),
        (dict(speed_mps=-1.0), "speed_mps"),
        (dict(delay_spread_ns=0.0), "delay_spread_ns"),
        (dict(carrier_hz=-3.5e9), "carrier_hz"),
    ],
)
def test_bad_channel_config_names_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        ChannelConfig(**kwargs)


def test_nested_channel_error_names_the_path():
    with pytest.raises(ValidationError, match=r"channel\.model"):
        PhyConfig.model_validate({"channel": {"model": "rician"}})


def test_defaults_and_explicit_mcs():
    assert PhyConfig().mcs_index == 14 and PhyConfig().qm_and_rate == (4, pytest.approx(553 / 1024))
    cfg = PhyConfig(modulation_order=6, code_rate=0.75)
    assert cfg.mcs_index is None and cfg.qm_and_rate == (6, 0.75)
    assert PhyConfig(mcs_index=27, mcs_table=2).qm_and_rate == (8, pytest.approx(948 / 1024))


def test_lowest_buildable_mcs_transmits():
    """MCS 3 of table 1 (rate 0.245) is the lowest accepted index, and it really runs."""
    from channels import Link

    rx = Link(PhyConfig(mcs_index=3, num_prbs=4, channel=ChannelConfig(model="awgn"))).transmit(
        b"x" * 40, 10.0, 1
    )
    assert rx.ok and rx.payload == b"x" * 40
