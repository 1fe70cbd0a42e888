"""Sweeps never die on one point (issue 11): a codec that raises on one image gives typed rows and the sweep
goes on; an interrupted sweep keeps its table; a sweep extended with new points reuses its rows and equals a
fresh run; a change of meaning is refused naming the field; ``--dry-run`` counts and writes nothing; the
output folder is checked before any work."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from mtgc_link.codecs import CODECS
from mtgc_link.codecs.jpeg import JpegCodec
from mtgc_link.sweep import executors, runner, store, task
from mtgc_link.sweep.config import parse_config
from mtgc_link.sweep.runner import check_extension, run_sweep


def _smooth(h: int, w: int, level: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 4 % 256, y * 5 % 256, np.full_like(x, level)], axis=-1)
    return img.astype(np.uint8)


@pytest.fixture
def image_dir(tmp_path) -> Path:
    """a: 32 x 48, b: 32 x 48 and bright (the flaky encoder refuses it), c: 48 x 32 (portrait: the flaky
    decoder raises on it)."""
    d = tmp_path / "images"
    d.mkdir()
    Image.fromarray(_smooth(32, 48, 60)).save(d / "a.png")
    Image.fromarray(np.minimum(_smooth(32, 48, 0) // 8 + 215, 255).astype(np.uint8)).save(d / "b.png")
    Image.fromarray(_smooth(48, 32, 120)).save(d / "c.png")
    return d


def _cfg(image_dir: Path, **over) -> dict:
    base = {
        "name": "hard",
        "images": {"source": str(image_dir), "limit": 2},
        "codecs": [{"name": "jpeg"}],
        "channels": [{"model": "awgn"}],
        "phy": {"num_prbs": 4, "csi": "perfect"},
        "snr_db": [2.0, 20.0],  # MCS 9: below the cliff (corrupted) / error-free
        "budgets": [{"cbr": 1.0}],
        "mcs": {"fixed": 9},
        "trials": 1,
        "seed": 5,
        "failure_policy": "gray",
        "metrics": ["psnr"],
        "save_images": {"max_images": 0},
        "references": False,
    }
    base.update(over)
    return base


def _stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in store.VOLATILE_COLUMNS if c in df]).reset_index(drop=True)


class FlakyJpeg(JpegCodec):
    """JPEG whose encoder refuses bright images and whose decoder raises on portrait pictures."""

    name = "flaky"

    def encode(self, image, max_bits=None, quality=None, **kw):
        if image.mean() > 200:
            raise ValueError(f"flaky: cannot take this image {object()!r}")  # '<object object at 0x...>'
        return super().encode(image, max_bits=max_bits, quality=quality, **kw)

    def decode(self, data):
        out = super().decode(data)
        if out.ok and out.image.shape[0] > out.image.shape[1]:
            raise RuntimeError(f"flaky decoder bug in {object()!r}")
        return out


@pytest.fixture
def flaky():
    CODECS.register("flaky")(FlakyJpeg)
    try:
        yield "flaky"
    finally:
        CODECS._items.pop("flaky", None)
        task._codec.cache_clear()


def _count_transmissions(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = task.deliver

    def counting(codec, src, phy, snr_db, seed, *a, **k):
        seen.append(f"{snr_db:g}")
        return real(codec, src, phy, snr_db, seed, *a, **k)

    monkeypatch.setattr(task, "deliver", counting)
    return seen


# ------------------------------------------------------------------------------- one point never kills it
def test_codec_that_raises_on_one_image_gives_typed_rows(image_dir, flaky, tmp_path):
    cfg = parse_config(
        _cfg(
            image_dir,
            images={"source": str(image_dir)},
            codecs=[{"name": "jpeg"}, {"name": "flaky"}],
            snr_db=[20.0],
            references=True,
        )
    )
    res = run_sweep(cfg, tmp_path / "out", plots=True, progress=False)
    df = res.table.set_index("key")
    assert res.ran == len(df) == 6 and res.errors == {"encode_error": 1, "decode_error": 1}
    jpeg = df[df["codec"] == "jpeg"]
    assert (jpeg["decode_status"] == "ok").all() and np.isfinite(jpeg["psnr"].astype(float)).all()
    assert (df.loc["flaky|AWGN|20dB|cbr=1|fixed9|a|t0", "decode_status"]) == "ok"

    enc = df.loc["flaky|AWGN|20dB|cbr=1|fixed9|b|t0"]
    assert enc["decode_status"] == "encode_error" and not enc["decode_ok"] and not enc["policy_applied"]
    assert enc["decode_reason"] == "encode (flaky): ValueError: flaky: cannot take this image <object object>"
    assert enc["stream_bits"] == 0 and enc["blocks"] == 0 and enc["budget_bits"] > 0
    assert pd.isna(enc["psnr"]) and enc["psnr_reason"] == "not computed (encode_error)"
    assert enc["ref_error_free_status"] == "encode_error" and pd.isna(enc["ref_error_free_psnr"])

    dec = df.loc["flaky|AWGN|20dB|cbr=1|fixed9|c|t0"]
    assert dec["decode_status"] == "decode_error" and not dec["policy_applied"]
    assert dec["decode_reason"] == "decode: RuntimeError: flaky decoder bug in <object object>"
    assert dec["blocks"] > 0 and dec["ber"] == 0  # it was sent and received: the link columns are real
    assert pd.isna(dec["psnr"]) and dec["psnr_reason"] == "not computed (decode_error)"
    assert dec["ref_error_free_status"] == "decode_error"
    assert "0x" not in "".join(df["decode_reason"].dropna())
    # the table and the figures are written for everything
    assert len(pd.read_parquet(res.out_dir / "results.parquet")) == 6
    assert any(p.name.startswith("psnr_vs_snr") for p in res.figures)
    assert any(p.name.startswith("decode_failure_vs_snr") for p in res.figures)


def test_link_and_metric_exceptions_are_typed_too(image_dir, tmp_path, monkeypatch):
    real_deliver, real_evaluate = task.deliver, task.evaluate

    def deliver(codec, src, phy, snr_db, *a, **k):
        if snr_db == 2.0:
            raise ValueError(f"MCS 9 cannot run in {object()!r}")
        return real_deliver(codec, src, phy, snr_db, *a, **k)

    def evaluate(reference, image, metrics):
        if "ssim" in metrics:
            raise FloatingPointError("ssim blew up")
        return real_evaluate(reference, image, metrics)

    monkeypatch.setattr(task, "deliver", deliver)
    monkeypatch.setattr(task, "evaluate", evaluate)
    res = run_sweep(
        parse_config(_cfg(image_dir, metrics=["psnr", "ssim"])), tmp_path, plots=False, progress=False
    )
    df = res.table
    low, high = df[df["snr_db"] == 2.0], df[df["snr_db"] == 20.0]
    assert res.errors == {"link_error": 2} and (low["decode_status"] == "link_error").all()
    assert set(low["decode_reason"]) == {"transmit: ValueError: MCS 9 cannot run in <object object>"}
    assert (low["stream_bits"] > 0).all() and (low["blocks"] == 0).all() and low["psnr"].isna().all()
    assert (high["decode_status"] == "ok").all() and np.isfinite(high["psnr"].astype(float)).all()
    assert high["ssim"].isna().all()
    assert set(high["ssim_reason"]) == {"metric_error: FloatingPointError: ssim blew up"}


def test_interrupted_sweep_writes_the_table_of_what_finished(image_dir, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = executors.run_task

    def second_task_interrupted(ctx, t, emit):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(ctx, t, emit)

    monkeypatch.setattr(executors, "run_task", second_task_interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(parse_config(_cfg(image_dir)), out, plots=True, progress=False)
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 2 and set(table["image"]) == {"a"}  # the first task: image a at both SNRs
    assert not (out / "figures").exists()  # Ctrl-C: the table only, figures are `mtgc-link plot`'s job
    monkeypatch.setattr(executors, "run_task", real)
    again = run_sweep(parse_config(_cfg(image_dir)), out, plots=False, progress=False)
    assert again.skipped == 2 and again.ran == 2


# --------------------------------------------------------------------------------------- extending a sweep
def test_extended_sweep_reuses_rows_and_equals_a_fresh_run(image_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = run_sweep(parse_config(_cfg(image_dir)), out, plots=False, progress=False)
    assert first.ran == 4
    wider = _cfg(image_dir, snr_db=[2.0, 10.0, 20.0], trials=2, name="hard-wider")
    sent = _count_transmissions(monkeypatch)
    ext = run_sweep(parse_config(wider), out, plots=False, progress=False)
    # 3 SNRs x 2 images x 2 trials = 12 rows; the 4 of the first run are reused, 8 transmissions run now
    assert (ext.points, ext.skipped, ext.ran) == (12, 4, 8) and len(sent) == 8
    assert sorted(set(sent)) == ["10", "2", "20"] and sent.count("10") == 4
    fresh = run_sweep(parse_config(wider), tmp_path / "fresh", plots=False, progress=False)
    pd.testing.assert_frame_equal(_stable(ext.table), _stable(fresh.table))
    assert list(ext.table["point"]) == list(range(12))  # renumbered in the wider grid
    # the folder's config is the extended one; the manifest keeps the first run and the history
    assert yaml.safe_load((out / "config.yaml").read_text())["snr_db"] == [2.0, 10.0, 20.0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_hash"] == parse_config(_cfg(image_dir)).config_hash()  # the first run's
    assert [h["config"]["snr_db"] for h in manifest["history"]] == [[2.0, 20.0], [2.0, 10.0, 20.0]]
    # a rerun of the extended config does nothing; the narrower first config gives back its own table
    sent.clear()
    assert run_sweep(parse_config(wider), out, plots=False, progress=False).ran == 0 and sent == []
    narrow = run_sweep(parse_config(_cfg(image_dir)), out, plots=False, progress=False)
    assert narrow.ran == 0 and narrow.outside == 8 and len(narrow.table) == 4
    pd.testing.assert_frame_equal(_stable(narrow.table), _stable(first.table))


def test_more_images_codecs_and_budgets_run_only_the_new_points(image_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_sweep(parse_config(_cfg(image_dir)), out, plots=False, progress=False)
    more = _cfg(
        image_dir,
        images={"source": str(image_dir)},  # no limit: image c too
        codecs=[{"name": "jpeg"}, {"name": "webp"}],
        budgets=[{"cbr": 1.0}, {"cbr": 1.5}],  # a new budget at the end keeps the old one's seeds
    )
    sent = _count_transmissions(monkeypatch)
    res = run_sweep(parse_config(more), out, plots=False, progress=False)
    assert (res.points, res.skipped, res.ran) == (2 * 2 * 2 * 3, 4, 20) and len(sent) == 20


def test_a_change_of_meaning_is_refused_naming_the_field(image_dir, tmp_path):
    out = tmp_path / "out"
    labelled = [{"name": "jpeg", "label": "J", "settings": {"chroma": "420"}}]
    run_sweep(parse_config(_cfg(image_dir, codecs=labelled)), out, plots=False, progress=False)
    before = sorted(p.name for p in (out / "rows").iterdir())

    def refused(**over) -> str:
        with pytest.raises(ValueError) as err:
            run_sweep(parse_config(_cfg(image_dir, **{"codecs": labelled, **over})), out, progress=False)
        return str(err.value)

    msg = refused(phy={"num_prbs": 6, "csi": "perfect"})
    assert "phy.num_prbs changed from 4 to 6" in msg and "another config" in msg and "\n" not in msg
    assert "seed changed from 5 to 6" in refused(seed=6)
    assert 'failure_policy changed from "gray" to "mean"' in refused(failure_policy="mean")
    assert 'metrics changed from ["psnr"] to ["psnr", "ssim"]' in refused(metrics=["psnr", "ssim"])
    msg = refused(codecs=[{"name": "jpeg", "label": "J", "settings": {"chroma": "444"}}])
    assert 'codecs \'J\': settings.chroma changed from "420" to "444"' in msg
    msg = refused(budgets=[{"cbr": 0.5}, {"cbr": 1.0}])
    assert "budgets 'cbr=1' moved from position 0 to 1" in msg
    # nothing ran, nothing was written
    assert sorted(p.name for p in (out / "rows").iterdir()) == before
    # --overwrite starts again
    res = run_sweep(parse_config(_cfg(image_dir, seed=6)), out, overwrite=True, plots=False, progress=False)
    assert res.ran == 4 and res.skipped == 0


def test_manifest_from_before_extension_resumes_only_the_same_config(image_dir, tmp_path):
    cfg = parse_config(_cfg(image_dir))
    old = {"config_hash": cfg.config_hash(), "name": "hard", "created": "2026-01-01T00:00:00"}
    check_extension(old, cfg, tmp_path)  # the same config: fine
    with pytest.raises(ValueError, match=r"another config \(hash .*predates extensible sweeps"):
        check_extension(old, parse_config(_cfg(image_dir, snr_db=[2.0])), tmp_path)
    # resumed once, the manifest gains the config and the history, so that it can be extended from then on
    out = tmp_path / "old"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(old))
    run_sweep(cfg, out, plots=False, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["created"] == "2026-01-01T00:00:00" and len(manifest["history"]) == 1
    assert run_sweep(parse_config(_cfg(image_dir, trials=2)), out, plots=False, progress=False).ran == 4


def test_mean_policy_refuses_images_that_change_the_mean_colour(image_dir, tmp_path):
    out = tmp_path / "out"
    run_sweep(parse_config(_cfg(image_dir, failure_policy="mean")), out, plots=False, progress=False)
    with pytest.raises(ValueError, match=r"mean colour \(the failure_policy 'mean' picture\) changed from"):
        run_sweep(
            parse_config(_cfg(image_dir, failure_policy="mean", images={"source": str(image_dir)})),
            out,
            progress=False,
        )


# ---------------------------------------------------------------------------------------------- dry run
def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_dry_run_counts_and_writes_nothing(image_dir, tmp_path):
    from mtgc_link.cli import app

    cli = CliRunner()
    out = tmp_path / "out"
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(_cfg(image_dir)))
    res = cli.invoke(app, ["sweep", str(cfg_path), "--out", str(out), "--dry-run"])
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert "sweep hard: 4 rows = 1 codec x 1 channel x 1 budget x 2 snr x 2 image x 1 trial" in text
    assert "encodes (tasks): 2," in text and "transmissions: 4, one per row" in text
    assert "to run: 4 rows, 2 encodes" in text and "estimated time: " in text
    assert "calibration: 1 codec x channel pair(s), each 1 encode + rows at 2 and 20 dB" in text
    assert not out.exists()

    # a real run prints the summary table; then a dry run of an extension counts what is left
    res = cli.invoke(app, ["sweep", str(cfg_path), "--out", str(out), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "mean PSNR [dB] by SNR" in res.stdout and "4 rows (4 run now, 0 already done)" in res.stdout
    before = _listing(out)
    cfg_path.write_text(yaml.safe_dump(_cfg(image_dir, snr_db=[2.0, 20.0, 30.0])))
    res = cli.invoke(app, ["sweep", str(cfg_path), "--out", str(out), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert f"already in {out}: 4 rows of this config" in res.stdout
    assert "to run: 2 rows, 2 encodes" in res.stdout
    assert _listing(out) == before
    # a dry run of a config that changes the meaning says so, exit 2
    cfg_path.write_text(yaml.safe_dump(_cfg(image_dir, seed=9)))
    res = cli.invoke(app, ["sweep", str(cfg_path), "--out", str(out), "--dry-run"])
    assert res.exit_code == 2 and "seed changed from 5 to 9" in res.output


# ----------------------------------------------------------------------------------------- output folder
def test_output_folder_checked_before_any_work(image_dir, tmp_path, monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(runner, "prepare", no_work)
    cfg = parse_config(_cfg(image_dir))
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=f"^output folder {re.escape(str(a_file))} is an existing file, not"):
        run_sweep(cfg, a_file, progress=False)
    sub = re.escape(f"output folder {a_file / 'sub'}: {a_file} is a file, not a folder")
    with pytest.raises(ValueError, match=f"^{sub}"):
        run_sweep(cfg, a_file / "sub", progress=False)
    with pytest.raises(ValueError, match="is an existing file"):
        runner.dry_run(cfg, a_file)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(ValueError, match=f"^output folder {re.escape(str(locked))} is not writable"):
                run_sweep(cfg, locked, progress=False)
        finally:
            locked.chmod(0o700)
