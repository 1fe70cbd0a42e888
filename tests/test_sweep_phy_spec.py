"""The sweep's ``phy`` and ``channels`` entries read channels' own definitions (PhyConfig fields, the
channel-model registry), and the dump (hence ``config_hash``) of configs written before stays the same."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels import PhyConfig
from channels.models import CHANNEL_MODELS, register_channel_model
from mtgc_link.sweep.config import (
    PHY_PER_POINT_FIELDS,
    ChannelSpec,
    ConfigError,
    PhySpec,
    build_phy,
    parse_config,
)

# What PhySpec dumped when it declared these seven fields itself: configs hash this.
LEGACY_DEFAULT_DUMP = {
    "num_prbs": 24,
    "subcarrier_spacing_khz": 30,
    "num_ofdm_symbols": 14,
    "dmrs_additional_position": 1,
    "mcs_table": 1,
    "csi": "ls",
    "ldpc_iterations": 20,
}
CONFIG = {
    "codecs": [{"name": "jpeg"}],
    "channels": [{"model": "awgn"}],
    "snr_db": [10],
    "budgets": [{"cbr": 0.5}],
    "metrics": ["psnr"],
}


def test_default_dump_is_unchanged():
    """A change of PhyConfig's defaults would change every sweep's config_hash: this test makes it visible."""
    assert PhySpec().model_dump() == LEGACY_DEFAULT_DUMP
    assert PhySpec().model_dump(mode="json") == LEGACY_DEFAULT_DUMP


def test_fields_are_phy_config_fields_but_the_per_point_ones():
    assert list(PhySpec.model_fields) == [n for n in PhyConfig.model_fields if n not in PHY_PER_POINT_FIELDS]
    for name, field in PhySpec.model_fields.items():
        assert field.default == PhyConfig.model_fields[name].default, name


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(num_prbs=0), "num_prbs"),
        (dict(subcarrier_spacing_khz=45), "subcarrier_spacing_khz"),  # PhyConfig's check, not only its type
        (dict(mcs_table=3), "mcs_table"),
        (dict(dmrs_length=3), "dmrs_length"),
        (dict(ldpc_cn_update="sum"), "ldpc_cn_update"),
        (dict(max_batch_slots=0), "max_batch_slots"),
        (dict(mcs_index=9), "mcs_index"),  # per point: from the MCS policy
        (dict(channel={"model": "awgn"}), "channel"),  # per point: from `channels`
    ],
)
def test_bounds_come_from_phy_config(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        PhySpec(**kwargs)


def test_added_fields_dump_only_off_default_and_reach_the_phy():
    base = parse_config({**CONFIG, "phy": {"num_prbs": 8}})
    same = parse_config({**CONFIG, "phy": {"num_prbs": 8, "dmrs_length": 1, "ldpc_cn_update": "boxplus-phi"}})
    other = parse_config({**CONFIG, "phy": {"num_prbs": 8, "ldpc_cn_update": "minsum"}})
    assert same.config_hash() == base.config_hash() and same.phy.model_dump() == base.phy.model_dump()
    assert other.config_hash() != base.config_hash()
    assert other.phy.model_dump() == {**LEGACY_DEFAULT_DUMP, "num_prbs": 8, "ldpc_cn_update": "minsum"}
    phy = build_phy(other.phy, other.channels[0], 9)
    assert (phy.num_prbs, phy.ldpc_cn_update, phy.mcs_index, phy.channel.model) == (8, "minsum", 9, "awgn")


def test_channel_models_come_from_the_registry():
    with pytest.raises(
        ValidationError, match="unknown channel model 'rician'; known: " + ", ".join(sorted(CHANNEL_MODELS))
    ):
        ChannelSpec(model="rician")
    with pytest.raises(ConfigError, match=r"channels\.0\.model: .*unknown channel model"):
        parse_config({**CONFIG, "channels": [{"model": "rician"}]})
    register_channel_model("test-flat")(lambda ch, device: None)
    try:
        assert ChannelSpec(model="test-flat").params() == {"model": "test-flat"}
    finally:
        del CHANNEL_MODELS["test-flat"]
