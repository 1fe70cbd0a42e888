"""Sweep axes are declared once (mtgc_link.sweep.axes): grid, keys, seeds, row columns and figure grouping
follow from the declaration; a new axis at its default value leaves keys and seeds alone; figures split by
an axis they do not draw instead of averaging over it."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mtgc_link import plots
from mtgc_link.sweep import axes as axes_mod
from mtgc_link.sweep import grid
from mtgc_link.sweep.axes import AXES, Axis, axis_columns
from mtgc_link.sweep.config import parse_config
from mtgc_link.sweep.grid import derive_seed, expand
from mtgc_link.sweep.rows import Row, data_dictionary, row_columns

CFG = {
    "name": "t",
    "images": {"source": "demo", "resize": 32, "limit": 2},
    "codecs": [{"name": "jpeg"}, {"name": "webp"}],
    "channels": [{"model": "awgn"}, {"model": "rayleigh"}],
    "snr_db": [0, 5, 10],
    "budgets": [{"cbr": 0.5}, {"cbr": 1.0}],
    "mcs": {"fixed": 9},
    "trials": 2,
    "metrics": ["psnr"],
}
SHAPES = {"a": (32, 32, 3), "b": (24, 32, 3)}

# A hypothetical transport axis, declared the way a real one is (e.g. ``protection``): values, key part (None
# at its default), seed part (None: it does not change the channel realisation), the row column.
EXTRA = Axis(
    "interleaver",
    "interleaver",
    lambda cfg, images: ["off", "on"],
    8,
    key=lambda cfg, v: None if v == "off" else f"il={v}",
    seed=None,
    cell=lambda cfg, v: v,
    scope="transport",
)


def _expand(cfg):
    return expand(cfg, SHAPES, lambda ch, snr: 9, lambda b, m, h, w: 1000 * (b + 1) + h)


def test_grid_follows_the_axes():
    cfg = parse_config(CFG)
    points, tasks = _expand(cfg)
    assert len(points) == 2 * 2 * 3 * 2 * 2 * 2 == len({p.key for p in points})
    # loop order is the axes' nest order: codec, channel, budget, SNR, image, trial (trial innermost)
    first = points[:3]
    assert [p.trial for p in first] == [0, 1, 0] and first[2].image == "b"
    assert points[2 * 2].snr_db == 5.0 and points[2 * 2 * 3].budget == 1
    # key = the axis labels in axis order; seed = the channel-side parts in axis order
    p = points[7]
    assert p.key.split("|") == [
        cfg.codecs[p.codec].display,
        cfg.channels[p.channel].display,
        f"{p.snr_db:g}dB",
        cfg.budgets[p.budget].to_budget().label,
        "fixed9",
        p.image,
        f"t{p.trial}",
    ]
    assert p.seed == derive_seed(
        cfg.seed, cfg.channels[p.channel].display, p.snr_db, p.budget, 9, p.image, p.trial
    )
    # tasks: one per (source coordinates = codec, image; payload bits)
    assert len(tasks) == 2 * 2 * 2 and {len(t.points) for t in tasks} == {2 * 3 * 2}
    for t in tasks:
        assert {(q.codec, q.image) for q in t.points} == {(t.codec, t.image)}


def test_a_new_axis_is_one_declaration(monkeypatch):
    cfg = parse_config(CFG)
    before, _ = _expand(cfg)
    monkeypatch.setattr(axes_mod, "AXES", (*AXES, EXTRA))
    monkeypatch.setattr(grid, "AXES", (*AXES, EXTRA))
    after, tasks = _expand(cfg)
    assert len(after) == 2 * len(before)
    off = [p for p in after if p.coords["interleaver"] == "off"]
    on = [p for p in after if p.coords["interleaver"] == "on"]
    # at its default value the new axis changes neither key nor seed: existing rows still resume
    assert {(p.key, p.seed) for p in off} == {(p.key, p.seed) for p in before}
    assert all(p.key.endswith("|il=on") for p in on)
    # seed=None: both values see the same channel realisations (common random numbers)
    assert sorted(p.seed for p in on) == sorted(p.seed for p in off)
    # a transport axis does not change the encoding: the tasks are the same, with twice the points
    assert len(tasks) == 8 and {len(t.points) for t in tasks} == {24}


def test_every_axis_has_a_row_column_and_the_dictionary_is_complete():
    assert set(axis_columns()) <= set(row_columns())
    assert len(row_columns()) == len(set(row_columns()))
    for name, _unit, doc in data_dictionary():
        assert doc, f"column {name} has no description"
    assert all(f.metadata for f in dataclasses.fields(Row))


def test_the_docs_list_every_column():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "experiments.md").read_text()
    missing = [c for c in row_columns() if f"`{c}`" not in text]
    assert not missing, f"docs/experiments.md does not list the columns {missing}"


def _table(extra: bool) -> pd.DataFrame:
    rows = []
    for codec in ("jpeg", "bpg"):
        for snr in (0.0, 10.0):
            for trial in (0, 1):
                for prot in ("off", "on") if extra else ("off",):
                    rows.append(
                        dict(
                            codec=codec,
                            channel="AWGN",
                            snr_db=snr,
                            budget="cbr=0.5",
                            mcs_index=9,
                            image="a",
                            trial=trial,
                            interleaver=prot,
                            psnr=20.0 + snr + (5.0 if prot == "on" else 0.0),
                        )
                    )
    return pd.DataFrame(rows)


def test_figures_split_by_an_axis_they_do_not_draw(monkeypatch, tmp_path):
    monkeypatch.setattr(plots, "AXES", (*AXES, EXTRA))
    assert plots.split_axes(_table(extra=False)) == []  # one value: nothing to split
    table = _table(extra=True)
    assert plots.split_axes(table) == ["interleaver"]
    seen = {}

    def fake_figures(df, out_dir, folder):
        seen[folder.relative_to(tmp_path).as_posix()] = df
        return []

    monkeypatch.setattr(plots, "load_results", lambda out: table)
    monkeypatch.setattr(plots, "_figures", fake_figures)
    plots.plot_results(tmp_path)
    assert sorted(seen) == ["figures/interleaver=off", "figures/interleaver=on"]
    for name, df in seen.items():  # each figure set sees one value only: no mean across them
        assert df["interleaver"].nunique() == 1 and name.endswith(df["interleaver"].iloc[0])
        assert len(df) == len(table) // 2
    mean_on = seen["figures/interleaver=on"]["psnr"].mean()
    assert mean_on == pytest.approx(seen["figures/interleaver=off"]["psnr"].mean() + 5.0)


def test_the_transport_axes_protection_and_harq():
    cfg = parse_config(CFG)
    before, tasks_before = _expand(cfg)
    both = parse_config({**CFG, "protection": ["equal", "separate", "uep"], "harq_max_tx": [1, 2]})
    after, tasks = _expand(both)
    assert len(after) == 6 * len(before)
    default = [p for p in after if p.coords["protection"] == "equal" and p.coords["harq_max_tx"] == 1]
    # at their defaults the axes change neither key nor seed, nor the config hash of a config without them
    assert [(p.key, p.seed) for p in default] == [(p.key, p.seed) for p in before]
    assert (
        parse_config({**CFG, "protection": ["equal"], "harq_max_tx": [1]}).config_hash() == cfg.config_hash()
    )
    assert both.config_hash() != cfg.config_hash()
    p = next(q for q in after if q.coords["protection"] == "uep" and q.coords["harq_max_tx"] == 2)
    assert p.key.endswith("|t" + str(p.trial) + "|prot=uep|harq=2")
    # no seed part: every protection and HARQ limit starts from the point's seed
    twin = next(q for q in default if q.key == p.key.removesuffix("|prot=uep|harq=2"))
    assert p.seed == twin.seed
    # equal points share the tasks of before (HARQ spends beyond the budget: no new encoding); separate and
    # uep change what fits, so their points are encoded per (protection, budget, MCS)
    eq = [t for t in tasks if t.points[0].coords["protection"] == "equal"]
    assert [(t.image, t.codec, t.max_bits) for t in eq] == [
        (t.image, t.codec, t.max_bits) for t in tasks_before
    ]
    assert all(len(t.points) == 2 * len(b.points) for t, b in zip(eq, tasks_before, strict=True))
    for t in tasks:
        assert len({(q.coords["protection"], q.codec, q.image) for q in t.points}) == 1
        if t.points[0].coords["protection"] != "equal":
            assert len({(q.budget, q.mcs_index) for q in t.points}) == 1
    assert len(tasks) == len(tasks_before) * 3
    assert {"protection", "harq_max_tx"} <= set(axis_columns())
