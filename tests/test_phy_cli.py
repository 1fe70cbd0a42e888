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


@pytest.fixture
def figures(monkeypatch):
    """The figures `mtgc-link phy --plot` draws (mtgc_link.cli.phy.draw), kept for inspection."""
    from mtgc_link.cli import phy

    drawn = []
    real = phy.draw

    def draw(*args, **kwargs):
        fig = real(*args, **kwargs)
        drawn.append(fig)
        return fig

    monkeypatch.setattr(phy, "draw", draw)
    return drawn


def test_phy_several_mcs_in_one_figure_with_zero_points_noted(tmp_path, figures):
    plot = tmp_path / "bler.png"
    args = ["phy", "bler", "--prbs", "4", "--mcs", "5,9", "--snr-db", "0,12", "--max-blocks", "8"]
    result = CliRunner().invoke(app, [*args, "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)
    assert [(p["mcs_index"], p["snr_db"]) for p in points] == [(5, 0.0), (5, 12.0), (9, 0.0), (9, 12.0)]
    assert all(p["blocks"] == 8 for p in points) and [p["bler"] for p in points][1::2] == [0.0, 0.0]
    assert points[0]["payload_bits_per_slot"] < points[2]["payload_bits_per_slot"]
    assert plot.stat().st_size > 10_000 and len(figures) == 1
    fig = figures[0]
    ax = fig.axes[0]
    curves = {line.get_label(): line for line in ax.get_lines()}
    mcs = [k for k in curves if k.startswith("MCS ")]
    assert mcs == [
        f"MCS {p['mcs_index']}: QPSK, R = {p['code_rate']:.3f}, {p['payload_bits_per_slot']} bits/slot"
        for p in points[::2]
    ]
    for label in mcs:  # the zero-BLER point: a hollow down triangle at 3/8, labelled 0/8
        assert list(curves[label].get_xdata()) == [0.0]
        zero = curves[f"_zero:{label}"]
        assert zero.get_marker() == "v" and list(zero.get_xdata()) == [12.0]
        assert list(zero.get_ydata()) == [pytest.approx(3 / 8)]
    assert [t.get_text() for t in ax.texts] == ["0/8", "0/8"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "0 errors in 8 blocks: drawn at 3/8 (95% upper bound)" in legend
    # a short title, the settings as a sentence (no key=value dump)
    assert fig.get_suptitle() == "BLER vs SNR: 5G NR chain, AWGN"
    assert "4 PRBs; CSI ls; 20 LDPC iterations; HARQ off" in ax.get_title(loc="left")
    assert "=" not in ax.get_title(loc="left").replace("R = ", "")
    bad = [
        (["--mcs", "5,x"], "--mcs"),
        (["--mcs", "5,5"], "--mcs"),
        (["--uncoded", "--mcs", "5,9"], "--mcs"),
    ]
    for extra, option in bad:
        res = CliRunner().invoke(app, ["phy", "bler", "--snr-db", "3", *extra])
        assert res.exit_code == 2 and option in res.output, (extra, res.output)


def test_find_waterfall_on_uncoded_qpsk_matches_the_closed_form():
    from scipy.optimize import brentq

    from channels.sim import qam_ber_awgn

    exact = brentq(lambda s: float(qam_ber_awgn(2, s)) - 1e-2, 0.0, 14.0)  # 7.33 dB
    args = ["phy", "ber", "--uncoded", "--modulation", "qpsk", "--find-waterfall", "--target", "1e-2"]
    args += ["--snr-db", "0,14", "--max-bits", "120000", "--min-errors", "2000", "--waterfall-points", "3"]
    result = CliRunner().invoke(app, [*args, "--waterfall-span-db", "2", "--json"])
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)
    found = points[0]["waterfall_snr_db"]
    assert found == pytest.approx(exact, abs=0.2)
    assert {p["waterfall_target"] for p in points} == {0.01} and {p["waterfall_snr_db"] for p in points} == {
        found
    }
    assert [p["snr_db"] for p in points] == [
        round(found + d, 2) for d in (-1.0, 0.0, 1.0)
    ]  # sampled around it
    assert points[1]["ber"] == pytest.approx(1e-2, rel=0.15)
    assert points[0]["waterfall_ebno_db"] == pytest.approx(found - 10 * math.log10(2))


def test_find_waterfall_refusals():
    base = ["phy", "ber", "--uncoded", "--modulation", "qpsk", "--max-bits", "24000"]
    res = CliRunner().invoke(app, [*base, "--find-waterfall", "--target", "1e-2", "--snr-db", "10,14"])
    assert res.exit_code == 2 and "at 10 dB is already at or below the target 0.01" in res.output, res.output
    refused = [
        (["--find-waterfall", "--target", "1.5"], "--target"),
        (["--find-waterfall", "--snr-db", "5"], "--snr-db"),
        (["--find-waterfall", "--waterfall-points", "1"], "--waterfall-points"),
        (["--snr-db", "5", "--target", "0.1"], "--target"),  # without --find-waterfall
    ]
    for extra, option in refused:
        res = CliRunner().invoke(app, [*base, *extra])
        assert res.exit_code == 2 and option in res.output, (extra, res.output)


def test_progress_on_stderr_keeps_json_clean():
    args = ["phy", "ber", "--uncoded", "--snr-db", "4,6", "--max-bits", "12000", "--json", "--progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [p["snr_db"] for p in json.loads(result.stdout)] == [4.0, 6.0]
    assert "phy ber" in result.stderr and "2/2" in result.stderr and "SNR 6.00 dB" in result.stderr
