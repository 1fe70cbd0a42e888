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

# A hypothetical transport axis, declared the way a real one is: values, key part (None at its default),
# seed part (None: it does not change the channel realisation), the row column.
EXTRA = Axis(
    "protection",
    "protection",
    lambda cfg, images: ["equal", "uep"],
    6,
    key=lambda cfg, v: None if v == "equal" else f"prot={v}",
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
    equal = [p for p in after if p.coords["protection"] == "equal"]
    uep = [p for p in after if p.coords["protection"] == "uep"]
    # at its default value the new axis changes neither key nor seed: existing rows still resume
    assert {(p.key, p.seed) for p in equal} == {(p.key, p.seed) for p in before}
    assert all(p.key.endswith("|prot=uep") for p in uep)
    # seed=None: both protections see the same channel realisations (common random numbers)
    assert sorted(p.seed for p in uep) == sorted(p.seed for p in equal)
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
                for prot in ("equal", "uep") if extra else ("equal",):
                    rows.append(
                        dict(
                            codec=codec,
                            channel="AWGN",
                            snr_db=snr,
                            budget="cbr=0.5",
                            mcs_index=9,
                            image="a",
                            trial=trial,
                            protection=prot,
                            psnr=20.0 + snr + (5.0 if prot == "uep" else 0.0),
                        )
                    )
    return pd.DataFrame(rows)


def test_figures_split_by_an_axis_they_do_not_draw(monkeypatch, tmp_path):
    monkeypatch.setattr(plots, "AXES", (*AXES, EXTRA))
    assert plots.split_axes(_table(extra=False)) == []  # one value: nothing to split
    table = _table(extra=True)
    assert plots.split_axes(table) == ["protection"]
    seen = {}

    def fake_figures(df, out_dir, folder):
        seen[folder.relative_to(tmp_path).as_posix()] = df
        return []

    monkeypatch.setattr(plots, "load_results", lambda out: table)
    monkeypatch.setattr(plots, "_figures", fake_figures)
    plots.plot_results(tmp_path)
    assert sorted(seen) == ["figures/protection=equal", "figures/protection=uep"]
    for name, df in seen.items():  # each figure set sees one protection only: no mean across them
        assert df["protection"].nunique() == 1 and name.endswith(df["protection"].iloc[0])
        assert len(df) == len(table) // 2
    mean_uep = seen["figures/protection=uep"]["psnr"].mean()
    assert mean_uep == pytest.approx(seen["figures/protection=equal"]["psnr"].mean() + 5.0)
