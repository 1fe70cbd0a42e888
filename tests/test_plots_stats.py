"""Statistics and readability of the sweep figures, from small synthetic results tables written through the
store (rows/ shards compacted to results.parquet): the confidence band runs over images, not over trials
that received identical bytes; no band from one image; rows given the failure policy's picture are marked on
the curves and tagged in the image grid; titles, legends and ticks do not hide or overlap anything."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import stdtrit

from mtgc_link import plots
from mtgc_link.sweep import store

SNRS = (0.0, 4.0, 8.0, 12.0)
IMAGES = ("a", "b", "c")
TRIALS = 4
# per image: the clean PSNR; trial t at 4 dB loses 3 dB for t odd (a corrupted decode); at 0 dB every trial,
# at 4 dB trial 0 of each image fell to the failure policy (floor 10 dB)
CLEAN = {"a": 30.0, "b": 24.0, "c": 27.0}
FLOOR = {"a": 9.0, "b": 11.0, "c": 10.0}


def _psnr(image: str, snr: float, trial: int) -> tuple[float, str, bool, int]:
    """(psnr, decode_status, policy_applied, bit_errors) of one row."""
    if snr == 0.0 or (snr == 4.0 and trial == 0):
        return FLOOR[image], "decode_failed", True, 500
    if snr == 4.0 and trial % 2:
        return CLEAN[image] - 3.0, "ok", False, 40
    return CLEAN[image], "ok", False, 0


def rows(images=IMAGES, trials=TRIALS, channel: str = "TDL-A", details: bool = True) -> list[dict]:
    out = []
    for snr in SNRS:
        for image in images:
            for trial in range(trials):
                psnr, status, policy, errors = _psnr(image, snr, trial)
                sha = (
                    f"{image}-clean" if errors == 0 else f"{image}-{snr}-{trial}"
                )  # clean trials: same bytes
                row = dict(
                    point=len(out),
                    key=f"jpeg|{channel}|{snr}|{image}|{trial}",
                    codec="jpeg",
                    channel=channel,
                    snr_db=snr,
                    budget="cbr=0.05",
                    budget_cbr=0.05,
                    mcs_policy="fixed9",
                    mcs_index=9,
                    image=image,
                    trial=trial,
                    psnr=psnr,
                    psnr_reason="",
                    decode_status=status,
                    decode_ok=status == "ok",
                    policy_applied=policy,
                    failure_policy="mean",
                    crc_error="decode",
                    blocks=4,
                    block_errors=int(errors > 0) * 2,
                    transmitted_bits=4000,
                    bit_errors=errors,
                    received_identical=errors == 0,
                    rx_payload_sha=sha,
                    ref_floor_psnr=FLOOR[image],
                    image_file="",
                )
                if details:
                    row.update(channel_model="tdl", delay_spread_ns=300.0, speed_mps=3.0, csi="ls")
                out.append(row)
    return out


def write_store(folder, table_rows) -> pd.DataFrame:
    writer = store.RowWriter(folder)
    for r in table_rows:
        writer.append(r)
    writer.close()
    return store.compact(folder)


@pytest.fixture
def captured(monkeypatch):
    """Every figure at the moment it is saved, drawn: {name: figure} (closed by the test's end)."""
    import matplotlib

    matplotlib.use("Agg")
    figs: dict = {}

    def save(fig, folder, name):  # as plots._save, PNG only, and the figure stays open for inspection
        path = folder / f"{name}.png"
        fig.savefig(path)
        fig.canvas.draw()
        figs[name] = fig
        return [path]

    monkeypatch.setattr(plots, "_save", save)
    yield figs
    import matplotlib.pyplot as plt

    plt.close("all")


def _panel(fig, title_start: str):
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(title_start)]
    assert len(axes) == 1, [ax.get_title() for ax in fig.axes]
    return axes[0]


def _lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def _band(ax, label: str):
    bands = [c for c in ax.collections if c.get_label() == f"_band:{label}"]
    assert len(bands) <= 1
    return bands[0] if bands else None


def _band_at(band, x: float) -> tuple[float, float]:
    v = band.get_paths()[0].vertices
    at = v[np.isclose(v[:, 0], x)][:, 1]
    return float(at.min()), float(at.max())


def _t_interval(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    half = stdtrit(len(v) - 1, 0.975) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def test_the_band_runs_over_images_not_over_duplicated_trials(tmp_path, captured):
    df = write_store(tmp_path, rows())
    # at 8 dB every trial of an image received the same bytes: 4 identical rows per image
    at8 = df[df["snr_db"] == 8.0]
    assert (at8.groupby("image")["rx_payload_sha"].nunique() == 1).all()
    band = plots.image_mean_ci(at8, "psnr")
    mean, half = _t_interval(list(CLEAN.values()))  # by hand: 3 images, t(0.975, 2 dof)
    assert (band.mean, band.n, band.per_unit) == (pytest.approx(mean), 3, 4)
    assert band.half == pytest.approx(half)
    naive = plots.mean_ci(at8["psnr"])  # over the 12 rows: as if 12 independent images
    assert naive[2] == 12 and naive[1] < 0.5 * band.half
    # at 4 dB the trials differ: each image is first averaged over its trials, then the interval over images
    at4 = df[df["snr_db"] == 4.0]
    per_image = [np.mean([_psnr(i, 4.0, t)[0] for t in range(TRIALS)]) for i in IMAGES]
    mean4, half4 = _t_interval(per_image)
    b4 = plots.image_mean_ci(at4, "psnr")
    assert (b4.mean, b4.half, b4.n) == (pytest.approx(mean4), pytest.approx(half4), 3)

    plots.plot_results(tmp_path)
    fig = captured["psnr_vs_snr__cbr_0.05"]
    ax = _panel(fig, "TDL-A")
    lo, hi = _band_at(_band(ax, "jpeg"), 8.0)
    assert (lo, hi) == (pytest.approx(mean - half), pytest.approx(mean + half))
    lo, hi = _band_at(_band(ax, "jpeg"), 4.0)
    assert (lo, hi) == (pytest.approx(mean4 - half4), pytest.approx(mean4 + half4))
    assert fig.legends[0].get_title().get_text() == "mean, 95% CI over 3 images\n(each: mean of its 4 trials)"


def test_one_image_draws_no_band(tmp_path, captured):
    write_store(tmp_path, rows(images=("a",)))
    band = plots.image_mean_ci(pd.DataFrame({"image": ["a"] * 3, "psnr": [30.0, 27.0, 30.0]}), "psnr")
    assert band.mean == pytest.approx(29.0) and band.n == 1 and math.isnan(band.half)
    plots.plot_results(tmp_path)
    fig = captured["psnr_vs_snr__cbr_0.05"]
    ax = _panel(fig, "TDL-A")
    assert _band(ax, "jpeg") is None  # no zero-width or NaN polygon either
    np.testing.assert_allclose(_lines(ax)["jpeg"].get_ydata(), [9.0, (9 + 27 + 30 + 27) / 4, 30.0, 30.0])
    assert fig.legends[0].get_title().get_text().startswith("mean of 1 image (no CI)")


def test_policy_supplied_points_are_marked_and_the_floor_labelled(tmp_path, captured):
    write_store(tmp_path, rows())
    plots.plot_results(tmp_path)
    fig = captured["psnr_vs_snr__cbr_0.05"]
    ax = _panel(fig, "TDL-A")
    lines = _lines(ax)
    main = lines["jpeg"]
    np.testing.assert_allclose(main.get_xdata(), SNRS)
    assert list(main.get_markevery()) == [2, 3]  # filled markers only where every image was decoded
    some, every = lines["_fallback_some:jpeg"], lines["_fallback_all:jpeg"]
    np.testing.assert_allclose(some.get_xdata(), [4.0])  # 1 of 4 trials: the policy's picture
    np.testing.assert_allclose(every.get_xdata(), [0.0])  # every row
    assert some.get_fillstyle() == "bottom" and every.get_markerfacecolor() == "white"
    assert some.get_color() == every.get_color() == main.get_color()
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "failure policy (mean) floor" in texts
    assert "some images not decoded: failure policy (mean)" in texts
    assert "no image decoded: failure policy (mean)" in texts
    # a table where everything decoded gets no such markers nor legend entries
    captured.clear()
    plots.plot_metric_vs_snr(pd.DataFrame(rows()).query("snr_db >= 8"), "psnr", tmp_path)
    fig = captured["psnr_vs_snr__cbr_0.05"]
    assert not any(k.startswith("_fallback") for k in _lines(_panel(fig, "TDL-A")))
    assert not any(t.get_text().startswith(("some images", "no image")) for t in fig.legends[0].get_texts())


def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


def test_titles_legends_and_ticks(tmp_path, captured):
    write_store(tmp_path, rows() + rows(channel="AWGN", details=False))
    plots.plot_results(tmp_path)
    fig = captured["psnr_vs_snr__cbr_0.05"]
    tdl = _panel(fig, "TDL-A")
    assert tdl.get_title() == "TDL-A (DS 300 ns, 3 m/s, CSI ls)\ncbr=0.05, MCS 9"
    np.testing.assert_allclose(tdl.get_xticks(), SNRS)
    assert [t.get_text() for t in tdl.get_xticklabels()] == ["0", "4", "8", "12"]
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        if ax.get_visible():
            assert not _boxes_overlap(legend, ax.get_window_extent(renderer)), ax.get_title()
    # the other figures over SNR carry the grid too
    ber = captured["ber_bler_vs_snr"]
    for ax in ber.axes:
        np.testing.assert_allclose(ax.get_xticks(), SNRS)
    labels = [t.get_text() for t in ber.legends[0].get_texts()]
    assert "TDL-A (DS 300 ns, 3 m/s, CSI ls)" in labels
    assert (
        _panel(captured["decode_failure_vs_snr"], "TDL-A").get_title() == "TDL-A (DS 300 ns, 3 m/s, CSI ls)"
    )


def test_snr_tick_labels_thinned_on_a_dense_grid():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    grid = np.arange(0.0, 20.5, 1.0)
    plots._snr_ticks(ax, grid)
    np.testing.assert_allclose(ax.get_xticks(), grid)  # a tick on every grid value
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "0" and 5 <= sum(bool(x) for x in labels) <= 10
    plt.close(fig)


def test_channel_details_from_config_yaml_for_old_tables(tmp_path, captured):
    write_store(tmp_path, rows(details=False))
    config = {
        "channels": [{"model": "tdl", "profile": "a", "delay_spread_ns": 30.0, "speed_mps": None}],
        "phy": {"csi": "lmmse"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plots.plot_results(tmp_path)
    ax = _panel(captured["psnr_vs_snr__cbr_0.05"], "TDL-A")
    assert ax.get_title() == "TDL-A (DS 30 ns, 0 m/s, CSI lmmse)\ncbr=0.05, MCS 9"  # speed: the default


SHAPES = {"a": (32, 48, 3), "b": (48, 32, 3)}  # landscape and portrait: rows of their own heights


def _grid_rows(tmp_path) -> list[dict]:
    """Two images at 4 and 8 dB, 2 trials, pictures saved for trial 0: at 4 dB image a's picture is the
    failure policy's, image b's a decode of corrupted bytes; at 8 dB both are clean decodes."""
    rng = np.random.default_rng(0)
    out = [r for r in rows(images=("a", "b")) if r["snr_db"] in (4.0, 8.0) and r["trial"] < 2]
    for r in out:
        if r["image"] == "b" and r["snr_db"] == 4.0 and r["trial"] == 0:
            r.update(
                decode_status="ok", policy_applied=False, psnr=21.0, bit_errors=40, received_identical=False
            )
    for name in ("a", "b"):
        picture = rng.integers(0, 255, SHAPES[name], np.uint8)
        store.save_png(store.original_image_path(tmp_path, name), picture)
    for r in out:
        if r["trial"] == 0:
            path = store.decoded_image_path(
                tmp_path, "jpeg", r["channel"], r["budget"], r["image"], r["snr_db"]
            )
            store.save_png(path, rng.integers(0, 255, SHAPES[r["image"]], np.uint8))
            r["image_file"] = path.relative_to(tmp_path).as_posix()
    return out


def test_image_grid_tags_cells_and_nothing_overlaps(tmp_path, captured):
    df = write_store(tmp_path, _grid_rows(tmp_path))
    assert plots.cell_tag(df[(df["image"] == "a") & (df["snr_db"] == 4) & (df["trial"] == 0)].iloc[0]) == (
        "fallback: decode_failed",
        "fallback",
    )
    plots.plot_results(tmp_path)
    fig = captured["image_grid__TDL-A__cbr_0.05"]
    titles = {ax.get_title(): ax for ax in fig.axes}
    assert set(titles) == {
        "original",
        "",
        "4 dB\nPSNR 9.0 dB\nfallback: decode_failed",  # image a (first row): the SNR heads the column
        "8 dB\nPSNR 30.0 dB",
        "PSNR 21.0 dB\ncorrupted, decoded",  # image b at 4 dB
        "PSNR 24.0 dB",
    }
    fallback = titles["4 dB\nPSNR 9.0 dB\nfallback: decode_failed"]
    assert all(
        s.get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-3)
        for s in fallback.spines.values()
    )
    corrupted = titles["PSNR 21.0 dB\ncorrupted, decoded"]
    assert corrupted.spines["top"].get_edgecolor()[:3] == pytest.approx((1.0, 0.498, 0.055), abs=1e-3)
    notes = [t.get_text() for t in fig.texts]
    assert any("red frame: the failure policy's picture" in t and "orange frame" in t for t in notes)
    assert "TDL-A (DS 300 ns, 3 m/s, CSI ls), cbr=0.05" in fig.get_suptitle()
    # no text over a picture: every title, row label, the figure title and the note stay off every image
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
    texts = [ax.title for ax in fig.axes if ax.get_title()] + [fig._suptitle, *fig.texts]
    texts += [ax.yaxis.label for ax in fig.axes if ax.get_ylabel()]
    for text in texts:
        tb = text.get_window_extent(renderer)
        for box in boxes:
            assert not _boxes_overlap(tb, box), text.get_text()


def test_the_legend_outside_leaves_a_one_panel_figure_its_width():
    """The legend goes to the right of the panels by growing the figure, not by squeezing the axes (a
    one-panel figure with a long legend once drew its curves in a sliver)."""
    import matplotlib.pyplot as plt

    from mtgc_link.plots import _legend, paper_style

    with plt.rc_context(paper_style()):
        fig, ax = plt.subplots(figsize=(3.2, 2.4))
        for i in range(4):
            ax.plot([0, 1], [i, i + 1], label=f"a rather long series label number {i}, PHY abstraction")
        _legend(fig, [ax], "mean, 95% CI over 5 images (each: mean of its 4 trials)")
        fig.canvas.draw()
        axes_width = ax.get_window_extent().width / fig.dpi
        legend_width = fig.legends[0].get_window_extent().width / fig.dpi
    plt.close(fig)
    assert axes_width > 2.0 and fig.get_figwidth() > 3.2 + legend_width * 0.9
