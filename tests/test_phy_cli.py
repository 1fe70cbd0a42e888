"""`mtgc-link phy ber|bler` through typer's CliRunner."""

from __future__ import annotations

import json
import math

import pytest
from scipy.special import erfc
from typer.testing import CliRunner

from mtgc_link.cli import app

FIELDS = {"snr_db", "ebno_db", "ber", "bler", "bits", "bit_errors", "blocks", "block_errors"}


def test_phy_ber_json_and_plot(tmp_path):
    plot = tmp_path / "ber.png"
    args = ["phy", "ber", "--uncoded", "--modulation", "qpsk", "--snr-db", "4,6", "--snr-db", "8"]
    args += ["--max-bits", "600000", "--min-errors", "500", "--seed", "3", "--json", "--plot", str(plot)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)
    assert [p["snr_db"] for p in points] == [4.0, 6.0, 8.0]
    for p in points:
        assert FIELDS <= p.keys()
        assert p["ebno_db"] == pytest.approx(p["snr_db"] - 10 * math.log10(2))
        assert p["ber"] == pytest.approx(p["bit_errors"] / p["bits"])
        assert p["bler"] == pytest.approx(p["block_errors"] / p["blocks"])
        qpsk = 0.5 * erfc(math.sqrt(10 ** (p["snr_db"] / 10) / 2))  # Q(sqrt(Es/N0))
        assert p["ber"] == pytest.approx(qpsk, rel=0.15)
    assert plot.stat().st_size > 10_000


def test_phy_bler_nr_chain_and_bad_arguments():
    args = ["phy", "bler", "--prbs", "4", "--mcs", "9", "--ebno-db", "1,12", "--max-blocks", "16", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    low, high = json.loads(result.output)
    assert low["mode"] == "nr" and low["ebno_db"] == pytest.approx(1.0) and low["blocks"] == 16
    assert low["bler"] > 0.5 and high["bler"] == 0.0 and high["bits"] == 16 * low["payload_bits_per_slot"]
    bad = CliRunner().invoke(app, ["phy", "ber", "--snr-db", "5", "--mcs", "40"])
    assert bad.exit_code != 0 and "mcs_index" in bad.output
    bad = CliRunner().invoke(app, ["phy", "ber", "--uncoded", "--channel", "tdl", "--snr-db", "5"])
    assert bad.exit_code != 0 and "channel" in bad.output
