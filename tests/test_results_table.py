"""The results table (docs/experiments.md, "The table"): the rate-control and Eb/N0 columns, one naming
scheme, null for empty, a metric's unavailability reason once in the manifest, old tables read under the new
names, the data dictionary in the docs, data paths of the shipped configs, docs that name only existing
paths, and a budget that refuses a CBR that is not finite."""

from __future__ import annotations

import glob
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from channels import ChannelConfig, PhyConfig
from channels.mcs import link_ebno_from_snr, slot_geometry
from mtgc_link.codecs import get_codec
from mtgc_link.demo_images import DEMO_CAPTIONS, demo_images, resize_longer_side
from mtgc_link.link import Budget, encode_for_budget, rate_choice
from mtgc_link.sweep import store
from mtgc_link.sweep.config import load_config, parse_config
from mtgc_link.sweep.rows import (
    RENAMED_COLUMNS,
    data_dictionary_markdown,
    metric_column,
    row_columns,
    upgrade_row,
)
from mtgc_link.sweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[1]

CFG = {
    "name": "table",
    "images": {"source": "demo", "resize": 48, "limit": 1},
    "codecs": [{"name": "jpeg"}, {"name": "bpg"}, {"name": "mtgc", "settings": {"profile": "tiny"}}],
    "channels": [{"model": "awgn"}],
    "phy": {"num_prbs": 4, "csi": "perfect"},
    "snr_db": [20.0],
    "budgets": [{"cbr": 0.5}, {"uses": 100}],  # the second carries 0 payload bits: no_fit rows
    "mcs": {"fixed": 9},
    "trials": 1,
    "seed": 3,
    "failure_policy": "gray",
    "metrics": ["psnr", "ms-ssim"],  # MS-SSIM does not apply under 161 px: a reason on every row
    "save_images": {"max_images": 0},
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("table")
    res = run_sweep(parse_config(CFG), out, workers=1, plots=False, progress=False)
    return res.table, out


def _image():
    return resize_longer_side(demo_images()["astronaut"], 48)


# ------------------------------------------------------------------------------- rate control and Eb/N0
def test_rate_control_columns_are_the_codecs_own_choice(sweep):
    df, _ = sweep
    ok = df[df["budget"] == "cbr=0.5"].set_index("codec_name")
    image = _image()
    for name in ("jpeg", "bpg", "mtgc"):
        row = ok.loc[name]
        codec = get_codec(name, **({"profile": "tiny"} if name == "mtgc" else {}))
        # the same rate control, run again on the same picture (MTGC with the demo caption the sweep sent)
        src = encode_for_budget(codec, image, int(row["budget_bits"]), caption=DEMO_CAPTIONS["astronaut"])
        info = src.encoded.info
        assert row["stream_bits"] == info["bits"] > 0
        if name == "mtgc":
            assert row["rc_rung"] == info["rung"] and row["rc_spws"] == info["k"]
            if info["hci_scale"]:
                assert row["rc_hci_scale"] == 1 / info["hci_scale"] and row["rc_hci_qp"] == info["hci_q"]
            else:
                assert pd.isna(row["rc_hci_scale"]) and pd.isna(row["rc_hci_qp"])
            assert pd.isna(row["rc_quality"]) and pd.isna(row["rc_knob"]) and pd.isna(row["rc_scale"])
        else:
            assert row["rc_quality"] == info["quality"] and row["rc_scale"] == 1.0
            assert pd.isna(row["rc_rung"]) and pd.isna(row["rc_spws"]) and pd.isna(row["rc_hci_scale"])
    assert ok.loc["jpeg", "rc_knob"] == "quality" and 1 <= ok.loc["jpeg", "rc_quality"] <= 100
    assert ok.loc["bpg", "rc_knob"] == "BPG -q, lower is better" and 0 <= ok.loc["bpg", "rc_quality"] <= 51
    # nothing fits a budget of 0 payload bits: no choice was made
    nofit = df[df["budget"] == "uses=100"]
    assert set(nofit["decode_status"]) == {"no_fit"} and (nofit["stream_bits"] == 0).all()
    rc = ["rc_knob", "rc_quality", "rc_scale", "rc_rung", "rc_spws", "rc_hci_scale", "rc_hci_qp"]
    assert nofit[rc].isna().all().all()


def test_resolution_ladder_scale_is_recorded():
    image = _image()
    jpeg = get_codec("jpeg")
    floor = jpeg.encode(image, quality=1).bits  # its smallest full-resolution stream
    src = encode_for_budget(jpeg, image, floor - 8)  # below it: the ladder steps down
    choice = rate_choice(src.encoded, jpeg)
    assert src.status == "ok" and choice["rc_scale"] == src.encoded.info["scale"] < 1
    assert choice["rc_scale"] in (0.5, 0.25, 0.125) and choice["rc_knob"] == "quality"
    assert rate_choice(None, jpeg) == dict.fromkeys(choice)


def test_ebno_is_the_links_eb_n0_at_the_rows_snr(sweep):
    df, _ = sweep
    phy = PhyConfig(channel=ChannelConfig(model="awgn"), num_prbs=4, mcs_index=9, csi="perfect")
    geo = slot_geometry(phy)
    by_hand = (
        20.0
        - 10 * math.log10(geo.modulation_order * geo.effective_rate)
        + 10 * math.log10(geo.pilot_energy_ratio)
    )
    assert link_ebno_from_snr(phy, 20.0) == pytest.approx(by_hand)
    assert np.allclose(df["ebno_db"], by_hand) and (df["ebno_db"] < df["snr_db"]).all()


# ------------------------------------------------------------------------------- names and nulls
def test_one_naming_scheme_and_no_renamed_column_left(sweep):
    df, out = sweep
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", c) for c in df.columns), list(df.columns)
    assert not set(RENAMED_COLUMNS) & set(df.columns)
    assert {"ms_ssim", "ms_ssim_reason", "ref_error_free_ms_ssim", "ref_floor_ms_ssim"} <= set(df.columns)
    assert {"ref_capacity_bound_bits", "ref_capacity_stream_bits"} <= set(df.columns)
    assert set(row_columns()) <= set(df.columns)
    sent = df[df["blocks"] > 0]
    assert len(sent) == 3 and (sent["transmitted_bits"] == sent["stream_bits"]).all()
    assert (sent["stream_bits"] <= sent["budget_bits"]).all()
    assert np.allclose(sent["ber"], sent["bit_errors"] / sent["transmitted_bits"])
    assert np.allclose(df["budget_cbr"], df["budget_uses"] / (3 * df["height"] * df["width"]))
    ok = df[df["budget"] == "cbr=0.5"]
    assert (ok["ref_capacity_stream_bits"] <= ok["ref_capacity_bound_bits"]).all()


def test_empty_means_null_in_parquet_and_csv(sweep):
    df, out = sweep
    for table in (pd.read_parquet(out / "results.parquet"), pd.read_csv(out / "results.csv")):
        empty = [c for c in table.columns if table[c].map(lambda v: isinstance(v, str) and v == "").any()]
        assert not empty, empty
    pq = pd.read_parquet(out / "results.parquet")
    assert pq["psnr_reason"].isna().all() and pq["decode_reason"][pq["decode_status"] == "ok"].isna().all()
    jpeg = pq[(pq["codec_name"] == "jpeg") & (pq["budget"] == "cbr=0.5")].iloc[0]
    assert pd.isna(jpeg["codec_trained"]) and pd.isna(jpeg["segment_bits"]) and pd.isna(jpeg["seg_hci"])
    assert jpeg["seg_payload"] == "delivered" and pd.isna(jpeg["image_file"]) and pd.isna(jpeg["rc_rung"])
    # MS-SSIM is defined, but not for 48 px pictures: the row says why, in one line of its own
    assert pq["ms_ssim"].isna().all() and pq["ms_ssim_reason"].str.contains("160 px").all()


def test_unavailable_metric_reason_is_stored_once_in_the_manifest(tmp_path, monkeypatch):
    from mtgc_link.metrics import get_metric

    why = "weights not found: looked in /nowhere/a, /nowhere/b and /nowhere/c (see docs/metrics.md)"
    metric = get_metric("lpips-alex")
    monkeypatch.setattr(type(metric), "availability", lambda self: (False, why))
    cfg = {**CFG, "codecs": [{"name": "jpeg"}], "budgets": [{"cbr": 0.5}], "metrics": ["psnr", "lpips-alex"]}
    res = run_sweep(parse_config(cfg), tmp_path, workers=1, plots=False, progress=False)
    df = res.table
    assert df["lpips_alex"].isna().all() and set(df["lpips_alex_reason"]) == {"unavailable"}
    assert df["psnr"].notna().all() and df["psnr_reason"].isna().all()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["metrics_unavailable"] == {"lpips-alex": why}
    assert why not in (tmp_path / "results.csv").read_text()


def test_rows_written_under_the_old_names_are_read_under_the_new(tmp_path):
    old = {
        "key": "k0",
        "point": 0,
        "payload_bits": 3840,
        "bits_sent": 3000,
        "bits": 3000,
        "cbr_budget": 0.5,
        "ms-ssim": 0.9,
        "ms-ssim_reason": "",
        "ref_error_free_ms-ssim": 0.95,
        "ref_capacity_bits": 5000.0,
        "ref_capacity_bits_sent": 4800,
        "image_file": "",
    }
    assert upgrade_row(old) == {
        "key": "k0",
        "point": 0,
        "budget_bits": 3840,
        "stream_bits": 3000,
        "transmitted_bits": 3000,
        "budget_cbr": 0.5,
        "ms_ssim": 0.9,
        "ms_ssim_reason": None,
        "ref_error_free_ms_ssim": 0.95,
        "ref_capacity_bound_bits": 5000.0,
        "ref_capacity_stream_bits": 4800,
        "image_file": None,
    }
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "part-1-old.jsonl").write_text(json.dumps(old) + "\n")
    table = store.compact(tmp_path)
    assert table.loc[0, "stream_bits"] == 3000 and "bits_sent" not in table
    pd.DataFrame([old]).to_parquet(tmp_path / "results.parquet")  # a table compacted before the rename
    again = store.load_results(tmp_path)
    assert list(again.columns) == list(upgrade_row(old))


# ------------------------------------------------------------------------------- the data dictionary
def test_the_docs_hold_the_data_dictionary_verbatim():
    text = (ROOT / "docs" / "experiments.md").read_text()
    assert data_dictionary_markdown() in text, (
        "docs/experiments.md: the data dictionary is out of date; replace its table with the output of "
        "`.venv/bin/python -m mtgc_link.sweep.rows`"
    )
    assert metric_column("clip-text") == "clip_text"


# ------------------------------------------------------------------------------- data paths of configs
def test_relative_data_paths_are_read_from_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "caps.json").write_text("{}")
    cfg = {**CFG, "images": {"source": "data", "captions": "data/caps.json"}}
    (folder / "c.yaml").write_text(yaml.safe_dump(cfg))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(folder / "c.yaml")
    assert Path(loaded.images.source).resolve() == (folder / "data").resolve()
    assert Path(loaded.images.captions).resolve() == (folder / "data" / "caps.json").resolve()
    # a path that exists from the working directory is kept as written
    (elsewhere / "data").mkdir()
    assert load_config(folder / "c.yaml").images.source == "data"
    # and one that exists from neither is left for the image loader to report
    (folder / "c.yaml").write_text(yaml.safe_dump({**cfg, "images": {"source": "missing/*.png"}}))
    assert load_config(folder / "c.yaml").images.source == "missing/*.png"


@pytest.mark.parametrize(
    "config", sorted((ROOT / "experiments" / "configs").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_configs_find_their_data_from_the_root_and_from_elsewhere(config, tmp_path, monkeypatch):
    if "shared/data" in config.read_text() and not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip(f"shared data not found at {ROOT.parent / 'shared' / 'data'}")
    for cwd in (ROOT, tmp_path):
        monkeypatch.chdir(cwd)
        images = load_config(config.relative_to(ROOT) if cwd == ROOT else config).images
        for path in (images.source, images.captions):
            if path is not None and path != "demo":
                assert Path(path).exists() or glob.glob(path), f"{config.name} from {cwd}: {path}"
        if cwd == ROOT and images.source != "demo":  # as written before it was config-relative: same hash
            assert images.source == "../shared/data/kodak"


# ------------------------------------------------------------------------------- docs name existing paths
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*/README.md"))]
# repository paths in lower case (prose such as "channels/CSI" is not a path)
REPO_PATH = re.compile(
    r"(?<![\w./-])((?:experiments|docs|tests|mtgc_link|channels|examples)/[a-z0-9_./*-]*[a-z0-9_*])"
)
SHARED_PATH = re.compile(r"(?<![\w./-])\.\./(shared/[\w./*-]*[\w*])")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _exists(path: Path) -> bool:
    return bool(glob.glob(str(path))) if "*" in str(path) else path.exists()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_mention_only_paths_that_exist(doc):
    missing = []
    for i, line in enumerate(doc.read_text().splitlines(), 1):
        for m in REPO_PATH.finditer(line):
            if not _exists(ROOT / m.group(1)):
                missing.append(f"{i}: {m.group(1)}")
        for m in LINK.finditer(line):
            target = m.group(1)
            if not re.match(r"[a-z]+:", target) and not _exists(doc.parent / target):
                missing.append(f"{i}: link {target}")
        if (ROOT.parent / "shared").is_dir():  # the data beside the checkout, as the tests find it
            for m in SHARED_PATH.finditer(line):
                if not _exists(ROOT.parent / m.group(1)):
                    missing.append(f"{i}: ../{m.group(1)}")
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_budget_refuses_a_cbr_that_is_not_finite():
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(
            ValueError, match=r"^budget\.cbr must be a finite number > 0, got (inf|-inf|nan)$"
        ):
            Budget(cbr=bad)
    with pytest.raises(ValueError, match=r"^budget\.uses must be an integer >= 1, got inf$"):
        Budget(uses=math.inf)
    assert Budget(cbr=0.25).label == "cbr=0.25"
