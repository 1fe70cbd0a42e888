"""Figures of segment transport and reference lines, from synthetic tables (no sweep run): the lines drawn
carry the values of the table, the transport axes are drawn rather than split by, and tables without the
new columns still plot as before."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mtgc_link import plots
from mtgc_link.sweep.axes import AXES, Axis

CODECS = ("jpeg", "bpg", "mtgc")
CHANNELS = ("AWGN", "TDL-A")
SNRS = (0.0, 5.0, 10.0)
IMAGES = ("a", "b")
TRIALS = (0, 1)
FLOOR = {"a": 11.0, "b": 13.0}
ERROR_FREE = {"jpeg": {"a": 24.0, "b": 26.0}, "bpg": {"a": 28.0, "b": 30.0}, "mtgc": {"a": 18.0, "b": 19.0}}


def _capacity(ch: str, snr: float, image: str, trial: int) -> float:
    return 15.0 + snr + (0.5 if image == "b" else 0.0) + (trial if ch == "TDL-A" else 0.0)


def _segments(codec: str, snr: float, image: str, trial: int, harq: int) -> dict:
    none = {f"seg_{k}": "" for k in plots.SEGMENT_ORDER}
    if codec != "mtgc":
        return {**none, "seg_payload": "delivered" if snr > 0 or trial == 0 else "corrupted"}
    return {
        **none,
        # delivered in trial 0 only at 0 dB, always from 5 dB (HARQ: always)
        "seg_header": "delivered" if snr > 0 or trial == 0 or harq > 1 else "lost",
        "seg_caption": "absent" if image == "b" else ("delivered" if snr >= 5 else "corrupted"),
        "seg_hci": "delivered" if snr >= 10 else "lost",
        "seg_spw": "delivered",
    }


def table(transport: bool = True, refs: bool = True, segments: bool = True) -> pd.DataFrame:
    rows = []
    prots = ("equal", "uep") if transport else (None,)
    harqs = (1, 4) if transport else (None,)
    for codec in CODECS:
        for ch in CHANNELS:
            for snr in SNRS:
                for image in IMAGES:
                    for trial in TRIALS:
                        for prot in prots:
                            for harq in harqs:
                                ok = snr > 0 or trial == 0
                                psnr = ERROR_FREE[codec][image] - (0.0 if ok else 10.0)
                                psnr += 1.0 if prot == "uep" else 0.0
                                row = dict(
                                    point=len(rows),
                                    codec=codec,
                                    codec_trained="yes" if codec == "mtgc" else "",
                                    channel=ch,
                                    snr_db=snr,
                                    budget="cbr=0.02",
                                    budget_cbr=0.02,
                                    mcs_policy="fixed9",
                                    mcs_index=9,
                                    image=image,
                                    trial=trial,
                                    psnr=psnr,
                                    psnr_reason="",
                                    decode_status="ok" if ok else "decode_failed",
                                    failure_policy="mean",
                                    policy_applied=not ok,
                                    blocks=4,
                                    block_errors=0 if ok else 2,
                                    transmitted_bits=4000,
                                    bit_errors=0 if ok else 300,
                                    segment_bits=json.dumps({"header": 208, "hci": 1200})
                                    if codec == "mtgc"
                                    else "",
                                )
                                if transport:
                                    row.update(
                                        protection=prot,
                                        harq_max_tx=harq,
                                        mean_transmissions=1.0 if harq == 1 else 1.0 + (10 - snr) / 10,
                                        transmissions=json.dumps([1, 1, 1, 1]),
                                        channel_uses_first=1344,
                                    )
                                if segments:
                                    row.update(_segments(codec, snr, image, trial, harq or 1))
                                if refs:
                                    row.update(
                                        ref_error_free_psnr=ERROR_FREE[codec][image],
                                        ref_capacity_psnr=_capacity(ch, snr, image, trial),
                                        ref_capacity_codec="bpg (libx265-pyav)",
                                        ref_floor_psnr=FLOOR[image],
                                    )
                                rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def captured(monkeypatch):
    """The lines of every figure at the moment it is saved: {name: {panel title: {label: line}}}."""
    figs: dict[str, dict] = {}
    real = plots._save

    def save(fig, folder, name):
        panels = {}
        for ax in fig.axes:
            if ax.get_visible():
                panels[ax.get_title()] = {line.get_label(): line for line in ax.get_lines()}
        figs[name] = panels
        return real(fig, folder, name)

    monkeypatch.setattr(plots, "_save", save)
    return figs


def _not_blank(png) -> None:
    arr = np.asarray(Image.open(png).convert("L"), dtype=np.float64)
    assert arr.shape[0] > 100 and arr.shape[1] > 100
    assert (arr < 200).mean() > 0.01 and arr.std() > 20, png


def _ydata(line) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=float)


def test_reference_lines_carry_the_tables_values(captured, tmp_path):
    df = table(transport=False)
    files = plots.plot_metric_vs_snr(df, "psnr", tmp_path)
    assert [f.name for f in files] == ["psnr_vs_snr__cbr_0.02.png", "psnr_vs_snr__cbr_0.02.pdf"]
    panels = captured["psnr_vs_snr__cbr_0.02"]
    for ch in CHANNELS:
        lines = panels[f"{ch}, cbr=0.02, MCS 9"]
        assert {"jpeg", "bpg", "mtgc"} <= set(lines)  # one label per codec: nothing to add
        for codec in CODECS:
            ef = lines[f"{codec} error-free"]
            assert ef.get_linestyle() == "--" and ef.get_color() == lines[codec].get_color()
            np.testing.assert_allclose(ef.get_xdata(), SNRS)
            np.testing.assert_allclose(_ydata(ef), np.mean(list(ERROR_FREE[codec].values())))
        cap = lines["BPG + capacity"]
        assert cap.get_linestyle() == ":"
        want = [np.mean([_capacity(ch, s, i, t) for i in IMAGES for t in TRIALS]) for s in SNRS]
        np.testing.assert_allclose(_ydata(cap), want)
        floor = lines["failure policy (mean) floor"]
        np.testing.assert_allclose(floor.get_xdata(), [SNRS[0], SNRS[-1]])
        np.testing.assert_allclose(_ydata(floor), np.mean(list(FLOOR.values())))
        # the codec's own curve: at 0 dB half the trials fell to the policy (10 dB lower)
        np.testing.assert_allclose(_ydata(lines["jpeg"]), [20.0, 25.0, 25.0])


def test_the_capacity_line_counts_each_realisation_once(captured, tmp_path):
    # only some rows carry the bound (e.g. one codec computed it): the mean is over (image, trial) still
    df = table(transport=False)
    df.loc[df["codec"] != "bpg", "ref_capacity_psnr"] = np.nan
    plots.plot_metric_vs_snr(df, "psnr", tmp_path)
    cap = captured["psnr_vs_snr__cbr_0.02"]["TDL-A, cbr=0.02, MCS 9"]["BPG + capacity"]
    want = [np.mean([_capacity("TDL-A", s, i, t) for i in IMAGES for t in TRIALS]) for s in SNRS]
    np.testing.assert_allclose(_ydata(cap), want)


def test_transport_axes_are_lines_with_their_own_styles(captured, tmp_path):
    df = table()
    plots.plot_metric_vs_snr(df, "psnr", tmp_path)
    lines = captured["psnr_vs_snr__cbr_0.02"]["AWGN, cbr=0.02, MCS 9"]
    series = {f"{c}, {p}, {h}" for c in CODECS for p in ("equal", "uep") for h in ("HARQ off", "HARQ 4")}
    assert series <= set(lines)
    a, b = lines["mtgc, uep, HARQ 4"], lines["mtgc, equal, HARQ off"]
    assert a.get_color() == b.get_color() != lines["bpg, uep, HARQ 4"].get_color()  # colour: the codec
    assert a.get_marker() != b.get_marker() and a.get_linestyle() != b.get_linestyle()
    np.testing.assert_allclose(_ydata(lines["mtgc, uep, HARQ 4"]), [18.5 - 5.0 + 1.0, 19.5, 19.5])
    # protection does not change the error-free value here: one line per codec
    assert {k for k in lines if k.endswith("error-free")} == {f"{c} error-free" for c in CODECS}
    # where it does, one per (codec, protection)
    df2 = df.copy()
    uep = df2["protection"] == "uep"
    df2.loc[uep, "ref_error_free_psnr"] = df2.loc[uep, "ref_error_free_psnr"] - 2.0
    captured.clear()
    plots.plot_metric_vs_snr(df2, "psnr", tmp_path)
    lines = captured["psnr_vs_snr__cbr_0.02"]["AWGN, cbr=0.02, MCS 9"]
    np.testing.assert_allclose(_ydata(lines["mtgc, uep error-free"]), 18.5 - 2.0)
    np.testing.assert_allclose(_ydata(lines["mtgc, equal error-free"]), 18.5)


def test_a_single_valued_transport_axis_adds_nothing_to_labels(captured, tmp_path):
    df = table()
    df = df[(df["protection"] == "uep") & (df["harq_max_tx"] == 4)]
    plots.plot_metric_vs_snr(df, "psnr", tmp_path)
    lines = captured["psnr_vs_snr__cbr_0.02"]["AWGN, cbr=0.02, MCS 9"]
    assert set(CODECS) <= set(lines) and not any("uep" in k or "HARQ" in k for k in lines)
    assert plots.plot_quality_by_protection(df, "psnr", tmp_path) == []


def test_quality_by_protection_panels_per_harq(captured, tmp_path):
    plots.plot_quality_by_protection(table(), "psnr", tmp_path)
    panels = captured["quality_vs_snr_by_protection__psnr__cbr_0.02"]
    assert set(panels) == {f"{c}, cbr=0.02, {h}" for c in CHANNELS for h in ("HARQ off", "HARQ 4")}
    lines = panels["TDL-A, cbr=0.02, HARQ 4"]
    assert {f"{c}, {p}" for c in CODECS for p in ("equal", "uep")} <= set(lines)
    assert "failure policy (mean) floor" in lines and "BPG + capacity" in lines


def test_segment_delivery_rates(captured, tmp_path):
    plots.plot_segment_delivery(table(), tmp_path)
    panels = captured["segment_delivery_vs_snr"]
    kinds = ("header", "caption", "spw", "hci", "payload")
    assert set(panels) == {f"{k} segment, {c}" for k in kinds for c in CHANNELS}
    header = panels["header segment, AWGN"]
    assert not any(k.startswith(("jpeg", "bpg")) for k in header)  # they send no header segment
    np.testing.assert_allclose(_ydata(header["mtgc, equal, HARQ off"]), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(_ydata(header["mtgc, uep, HARQ 4"]), [1.0, 1.0, 1.0])
    # image b has no caption ("absent"): the rate is over image a's rows only, 0 then 1
    np.testing.assert_allclose(_ydata(panels["caption segment, TDL-A"]["mtgc, uep, HARQ 4"]), [0, 1, 1])
    np.testing.assert_allclose(_ydata(panels["hci segment, AWGN"]["mtgc, equal, HARQ off"]), [0, 0, 1])
    np.testing.assert_allclose(_ydata(panels["payload segment, AWGN"]["jpeg, uep, HARQ 4"]), [0.5, 1, 1])
    assert plots.segment_kinds(table(segments=False)) == []
    assert plots.plot_segment_delivery(table(segments=False), tmp_path) == []


def test_mean_transmissions_only_with_harq(captured, tmp_path):
    df = table()
    plots.plot_mean_transmissions(df, tmp_path)
    lines = captured["mean_transmissions_vs_snr"]["TDL-A, cbr=0.02"]
    assert lines and all("HARQ 4" in k for k in lines)
    np.testing.assert_allclose(_ydata(lines["bpg, equal, HARQ 4"]), [2.0, 1.5, 1.0])
    assert plots.plot_mean_transmissions(df[df["harq_max_tx"] == 1], tmp_path) == []
    assert plots.plot_mean_transmissions(table(transport=False), tmp_path) == []


def _axis(name: str) -> Axis:
    return Axis(
        name,
        name,
        lambda cfg, images: [],
        6,
        key=lambda c, v: None,
        seed=None,
        cell=lambda c, v: v,
        scope="transport",
    )


def test_transport_axes_are_drawn_not_split(monkeypatch):
    df = table().assign(interleaver=lambda d: np.where(d["trial"] == 0, "on", "off"))
    base = tuple(a for a in AXES if a.column not in plots.LINE_AXES)  # as before the axes were declared
    declared = (_axis("protection"), _axis("harq_max_tx"))
    monkeypatch.setattr(plots, "AXES", (*base, *declared, _axis("interleaver")))
    assert plots.split_axes(df) == ["interleaver"]  # an axis no figure draws still splits
    for axes in (base, (*base, *declared)):  # whether or not the transport axes are declared
        monkeypatch.setattr(plots, "AXES", axes)
        assert plots.split_axes(df) == []


def _stems(files) -> set[str]:
    return {f.name.rsplit(".", 1)[0] for f in files}


def test_plot_results_new_and_old_tables(tmp_path, monkeypatch):
    base = tuple(a for a in AXES if a.column not in plots.LINE_AXES)
    monkeypatch.setattr(plots, "AXES", (*base, _axis("protection"), _axis("harq_max_tx")))
    new, old = tmp_path / "new", tmp_path / "old"
    for folder, df in ((new, table()), (old, table(transport=False, refs=False, segments=False))):
        folder.mkdir()
        df.to_parquet(folder / "results.parquet", index=False)
    files = plots.plot_results(new)
    assert {f.parent for f in files} == {new / "figures"}  # drawn, not split into folders
    assert _stems(files) == {
        "psnr_vs_snr__cbr_0.02",
        "quality_vs_snr_by_protection__psnr__cbr_0.02",
        "ber_bler_vs_snr",
        "decode_failure_vs_snr",
        "segment_delivery_vs_snr",
        "mean_transmissions_vs_snr",
        "bits_per_modality",
    }
    for f in files:
        assert f.is_file() and f.stat().st_size > 5_000
        if f.suffix == ".png":
            _not_blank(f)
    old_files = plots.plot_results(old)
    assert _stems(old_files) == {
        "psnr_vs_snr__cbr_0.02",
        "ber_bler_vs_snr",
        "decode_failure_vs_snr",
        "bits_per_modality",
    }


def test_an_old_table_draws_no_reference_lines(captured, tmp_path):
    plots.plot_metric_vs_snr(table(transport=False, refs=False, segments=False), "psnr", tmp_path)
    lines = captured["psnr_vs_snr__cbr_0.02"]["AWGN, cbr=0.02, MCS 9"]
    assert {k for k in lines if not k.startswith("_")} == set(CODECS)  # "_fallback_*": marker-only lines


def test_metric_vs_budget_with_transport_lines(captured, tmp_path):
    """Two budgets and the transport axes: one line per (codec, protection, HARQ) across the budgets (the
    semantic_robustness sweep crashed here on a duplicated marker style)."""
    df = table()
    wide = df.copy()
    wide["budget"], wide["budget_cbr"] = "cbr=0.05", 0.05
    wide["psnr"] = wide["psnr"] + 2.0
    both = pd.concat([df, wide], ignore_index=True)
    files = plots.plot_metric_vs_budget(both, "psnr", tmp_path)
    assert files
    panels = captured["psnr_vs_budget"]
    lines = next(iter(panels.values()))
    line = lines["mtgc, uep, HARQ 4"]
    assert (
        list(line.get_xdata()) == [0.02, 0.05]
        and line.get_marker() != lines["mtgc, equal, HARQ off"].get_marker()
    )
