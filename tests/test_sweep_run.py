"""Sweeps end to end: the table, decode cache, 1 vs 2 workers vs Ray, resume after SIGKILL, adaptive MCS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mtgc_link.sweep import store
from mtgc_link.sweep.config import parse_config
from mtgc_link.sweep.runner import run_sweep

CFG = {
    "name": "tiny",
    "images": {"source": "demo", "resize": 48, "limit": 2},
    "codecs": [{"name": "jpeg"}],
    "channels": [{"model": "awgn"}],
    "phy": {"num_prbs": 4, "csi": "perfect"},
    "snr_db": [-6.0, 2.5, 20.0],  # MCS 9 (QPSK R=0.66): all blocks lost / near the cliff / error-free
    "budgets": [{"cbr": 0.5}],
    "mcs": {"fixed": 9},
    "trials": 3,
    "seed": 7,
    "failure_policy": "gray",
    "metrics": ["psnr"],
    "save_images": {"max_images": 1},
    # The cache accounting below counts rows' own decodes; the references' error-free decode (which shares
    # the cache) is checked by test_references_share_the_decode_cache.
    "references": False,
}
N_ROWS = 2 * 3 * 3


def stable(df: pd.DataFrame) -> pd.DataFrame:
    """The table without the columns that legitimately differ between runs (timings, cache hits)."""
    return df.drop(columns=[c for c in store.VOLATILE_COLUMNS if c in df]).reset_index(drop=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """One uninterrupted in-process run, counting real encoder and decoder calls."""
    from mtgc_link.codecs.jpeg import JpegCodec

    calls = {"encode": 0, "decode": 0}
    enc, dec = JpegCodec.encode, JpegCodec.decode

    def counting_encode(self, *a, **k):
        calls["encode"] += 1
        return enc(self, *a, **k)

    def counting_decode(self, data):
        calls["decode"] += 1
        return dec(self, data)

    JpegCodec.encode, JpegCodec.decode = counting_encode, counting_decode
    try:
        out = tmp_path_factory.mktemp("baseline")
        res = run_sweep(parse_config(CFG), out, workers=1, plots=False, progress=False)
    finally:
        JpegCodec.encode, JpegCodec.decode = enc, dec
    return res, calls


def test_table_contents(baseline):
    res, _ = baseline
    df = res.table
    assert len(df) == N_ROWS == df["key"].nunique() and res.ran == N_ROWS and res.skipped == 0
    assert list(df["point"]) == list(range(N_ROWS))
    for col in (
        "codec",
        "channel",
        "snr_db",
        "budget",
        "mcs_index",
        "image",
        "trial",
        "seed",
        "budget_bits",
        "stream_bits",
        "bpp",
        "channel_uses",
        "ber",
        "bler",
        "decode_status",
        "psnr",
        "t_transmit_s",
        "config_hash",
        "git_commit",
        "versions",
    ):
        assert col in df, col
    assert (df["stream_bits"] <= df["budget_bits"]).all() and (df["stream_bits"] > 0).all()
    assert np.allclose(df["bpp"], df["stream_bits"] / (df["height"] * df["width"]))
    assert json.loads(df["versions"].iloc[0])["sionna-no-rt"] != "absent"
    hi, lo = df[df["snr_db"] == 20.0], df[df["snr_db"] == -6.0]
    # error-free: the sent bytes, the same PSNR in every trial
    assert hi["received_identical"].all() and (hi["ber"] == 0).all() and (hi["decode_status"] == "ok").all()
    assert (hi.groupby("image")["psnr"].nunique() == 1).all()
    # all blocks lost: nothing decodable, gray policy applied
    assert (lo["bler"] == 1).all() and lo["policy_applied"].all()
    assert set(lo["decode_status"]) == {"decode_failed"}
    # per-row seeds differ between trials and SNRs
    assert df["seed"].nunique() == N_ROWS
    # decoded images saved for the grid (trial 0, first image) and the original
    assert len(list((res.out_dir / "images").rglob("*.png"))) == 3 + 1
    pq, csv = pd.read_parquet(res.out_dir / "results.parquet"), pd.read_csv(res.out_dir / "results.csv")
    assert len(pq) == len(csv) == N_ROWS and list(pq["key"]) == list(csv["key"])


def test_decode_cache_calls_once_per_distinct_payload(baseline):
    res, calls = baseline
    df = res.table
    distinct = df.groupby("image")["rx_payload_sha"].nunique().sum()
    assert calls["decode"] == distinct < N_ROWS
    assert (~df["decode_cache_hit"]).sum() == distinct
    # encoded once per (image, codec, payload bits): 2 images, one budget and MCS -> 2 encode calls
    assert calls["encode"] == df.groupby(["image", "budget_bits"]).ngroups == 2
    assert df.groupby("image")["stream_bits"].nunique().eq(1).all()


def test_two_workers_give_the_same_table(baseline, tmp_path):
    res, _ = baseline
    two = run_sweep(parse_config(CFG), tmp_path, workers=2, plots=False, progress=False)
    pd.testing.assert_frame_equal(stable(two.table), stable(res.table))


def test_ray_gives_the_same_table(baseline, tmp_path):
    pytest.importorskip("ray")
    res, _ = baseline
    ray_res = run_sweep(parse_config(CFG), tmp_path, executor="ray", workers=1, plots=False, progress=False)
    pd.testing.assert_frame_equal(stable(ray_res.table), stable(res.table))


def _complete_rows(out: Path) -> int:
    return sum(shard.read_bytes().count(b"\n") for shard in (out / "rows").glob("part-*.jsonl"))


def test_resume_after_sigkill(baseline, tmp_path):
    res, _ = baseline
    cfg_path, out = tmp_path / "tiny.yaml", tmp_path / "out"
    cfg_path.write_text(yaml.safe_dump(CFG))
    cmd = [
        sys.executable,
        "-c",
        "from mtgc_link.cli import main; main()",
        "sweep",
        str(cfg_path),
        "--out",
        str(out),
        "--no-plots",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while _complete_rows(out) < 2:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "no rows after 180 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(store.read_rows(out))
    assert 2 <= done_before < N_ROWS and not (out / "results.parquet").exists()

    again = run_sweep(parse_config(CFG), out, workers=1, plots=False, progress=False)
    assert again.skipped == done_before and again.ran == N_ROWS - done_before
    pd.testing.assert_frame_equal(stable(again.table), stable(res.table))
    # a third run has nothing left to do and changes nothing
    third = run_sweep(parse_config(CFG), out, workers=1, plots=False, progress=False)
    assert third.ran == 0
    pd.testing.assert_frame_equal(stable(third.table), stable(res.table))


def test_torn_last_line_is_rerun_not_kept(tmp_path):
    w = store.RowWriter(tmp_path)
    w.append({"key": "a", "point": 0, "x": 1.5})
    w.append({"key": "b", "point": 1, "x": float("nan")})
    w.close()
    with open(w.path, "a") as fh:
        fh.write('{"key": "c", "point": 2, "x"')  # a kill in the middle of a write
    w2 = store.RowWriter(tmp_path)
    w2.append({"key": "a", "point": 0, "x": 1.5})  # the same row from an overlapping run is kept once
    w2.close()
    rows = {r["key"]: r for r in store.read_rows(tmp_path)}
    assert len(store.read_rows(tmp_path)) == 2 and rows["a"]["x"] == 1.5 and np.isnan(rows["b"]["x"])
    assert store.done_keys(tmp_path) == {"a", "b"}


def test_folder_of_another_config_is_refused(baseline):
    res, _ = baseline
    other = dict(CFG, seed=8)
    with pytest.raises(ValueError, match="another config"):
        run_sweep(parse_config(other), res.out_dir, plots=False, progress=False)


def test_adaptive_mcs_thresholds_measured_once_and_cached(tmp_path, monkeypatch):
    from mtgc_link.sweep import mcs_policy
    from mtgc_link.sweep.config import AdaptiveMcs, ChannelSpec, PhySpec

    phy, ch = PhySpec(num_prbs=4, csi="perfect"), ChannelSpec(model="awgn")
    ad = AdaptiveMcs(target_bler=0.1, candidates=[3, 9, 19], snr_grid_db=list(range(-10, 22, 2)), blocks=4)
    table = mcs_policy.threshold_table(phy, ch, ad, cache_dir=tmp_path)
    t3, t9, t19 = table[3], table[9], table[19]
    # QPSK R=0.25 < QPSK R=0.66 < 64QAM R=0.5 on AWGN (Es/N0 thresholds several dB apart)
    assert None not in (t3, t9, t19) and t3 + 3 <= t9 and t9 + 6 <= t19
    # at the threshold BLER <= target; one grid step below it, not
    from mtgc_link.sweep.config import build_phy

    assert mcs_policy.measure_bler(build_phy(phy, ch, 9), t9, 4, 999) <= 0.1
    assert mcs_policy.measure_bler(build_phy(phy, ch, 9), t9 - 2, 4, 999) > 0.1
    assert len(list(tmp_path.glob("*.json"))) == 1

    def fail(*a, **k):
        raise AssertionError("measured again instead of reading the cache")

    monkeypatch.setattr(mcs_policy, "measure_bler", fail)
    assert mcs_policy.threshold_table(phy, ch, ad, cache_dir=tmp_path) == table
    assert mcs_policy.select_mcs(table, t19 + 0.5) == 19
    assert mcs_policy.select_mcs(table, (t9 + t19) / 2) == 9
    assert mcs_policy.select_mcs(table, t3 - 5) == 3  # below every threshold: the lowest candidate


def test_references_share_the_decode_cache(tmp_path):
    """With the reference columns on, the error-free decode of the sent bytes goes through the decode cache:
    the decoder still runs once per distinct payload (the sent bytes included), and the error-free PSNR is
    the PSNR of the error-free rows."""
    from mtgc_link.codecs.jpeg import JpegCodec

    calls = {"decode": 0}
    dec = JpegCodec.decode

    def counting_decode(self, data):
        calls["decode"] += 1
        return dec(self, data)

    JpegCodec.decode = counting_decode
    try:
        res = run_sweep(parse_config({**CFG, "references": True}), tmp_path, plots=False, progress=False)
    finally:
        JpegCodec.decode = dec
    df = res.table
    assert df["ref_error_free_status"].eq("ok").all()
    clean = df[df["received_identical"].astype(bool)]
    assert len(clean) and (clean["psnr"] == clean["ref_error_free_psnr"]).all()
    sent = {(r.image, r.rx_payload_sha) for r in clean.itertuples()}
    distinct = {(r.image, r.rx_payload_sha) for r in df.itertuples()}
    assert calls["decode"] == len(distinct | sent) == len(distinct)  # the sent bytes were received too
    assert (df["ref_floor_psnr"] < df.groupby("image")["psnr"].transform("max")).all()
