"""MTGC training on the tiny profile: each stage lowers the loss on a fixed batch; resume is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from mtgc_link.codecs.mtgc.profiles import load_profile
from mtgc_link.codecs.mtgc.train import Trainer, TrainError, TrainSettings, bicubic_hci, list_images

NAMES = ("kodim01", "kodim05", "kodim23")


@pytest.fixture(scope="module")
def data(kodak_dir, kodak_captions, tmp_path_factory) -> Path:
    """Three Kodak pictures at 96x64 (small, so steps are fast) with their captions."""
    folder = tmp_path_factory.mktemp("train_data")
    for n in NAMES:
        Image.open(kodak_dir / f"{n}.png").convert("RGB").resize((96, 64), Image.Resampling.BOX).save(
            folder / f"{n}.png"
        )
    (folder / "captions.json").write_text(json.dumps({n: kodak_captions[n] for n in NAMES}))
    return folder


def _trainer(data: Path, out: Path, stage: int, steps: int, lr: float, resume: bool = False) -> Trainer:
    settings = TrainSettings(
        stage=stage,
        data=data,
        out=out,
        captions=data / "captions.json",
        steps=steps,
        batch_size=2,
        lr=lr,
        device="cpu",
        log_every=1,
        resume=resume,
    )
    return Trainer(settings, models=load_profile("tiny", device="cpu"))


def test_stage1_controlnet_lowers_the_loss_and_writes_a_loadable_profile(data, tmp_path):
    tr = _trainer(data, tmp_path / "s1", stage=1, steps=6, lr=1e-3)
    unet_before = {k: v.clone() for k, v in tr.models.unet.state_dict().items()}
    before = tr.fixed_batch_loss()
    tr.train()
    after = tr.fixed_batch_loss()
    assert after["loss"] < 0.97 * before["loss"], (before, after)
    # the backbone stays frozen
    assert all(torch.equal(v, tr.models.unet.state_dict()[k]) for k, v in unet_before.items())
    log = [json.loads(line) for line in (tmp_path / "s1" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7)) and all(np.isfinite(r["loss"]) for r in log)
    loaded = load_profile(tmp_path / "s1", device="cpu", local_files_only=True)
    assert loaded.trained is True
    assert torch.equal(loaded.controlnet.conv_in.weight, tr.models.controlnet.conv_in.weight)
    assert not torch.equal(loaded.controlnet.conv_in.weight, load_profile("tiny").controlnet.conv_in.weight)


def test_stage2_tascm_lowers_loss_and_rate(data, tmp_path):
    tr = _trainer(data, tmp_path / "s2", stage=2, steps=6, lr=3e-3)
    cn_before = tr.models.controlnet.conv_in.weight.clone()
    before = tr.fixed_batch_loss()
    tr.train()
    after = tr.fixed_batch_loss()
    assert before["bits"] > 0
    assert after["loss"] < before["loss"] and after["bits"] < before["bits"], (before, after)
    assert torch.equal(tr.models.controlnet.conv_in.weight, cn_before)  # ControlNet frozen in stage 2


def test_stage3_joint_lowers_the_loss_and_resume_is_exact(data, tmp_path):
    straight = _trainer(data, tmp_path / "a", stage=3, steps=6, lr=1e-3)
    before = straight.fixed_batch_loss()
    straight.train()
    after = straight.fixed_batch_loss()
    assert after["loss"] < 0.97 * before["loss"], (before, after)

    _trainer(data, tmp_path / "b", stage=3, steps=3, lr=1e-3).train()
    resumed = _trainer(data, tmp_path / "b", stage=3, steps=6, lr=1e-3, resume=True)
    assert resumed.step == 0
    resumed.train()
    assert resumed.step == 6
    for name in ("controlnet", "tascm", "entropy"):
        a, b = getattr(straight.models, name).state_dict(), getattr(resumed.models, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.parametrize(
    ("stage", "lr", "part"),
    [("vae", 3e-3, "vae"), ("clip", 3e-3, "text_encoder"), ("unet", 1e-3, "unet")],
)
def test_base_stages_lower_the_loss_train_only_their_part_and_resume_exactly(data, tmp_path, stage, lr, part):
    """The stages that train what the reference profile takes pretrained (autoencoder, text encoder + vision
    tower, base UNet): loss down on the fixed batch, nothing else touched, and a resumed run equals an
    uninterrupted one bit for bit."""
    straight = _trainer(data, tmp_path / "a", stage=stage, steps=6, lr=lr)
    frozen = "controlnet" if stage != "unet" else "vae"
    other_before = {k: v.clone() for k, v in getattr(straight.models, frozen).state_dict().items()}
    before = straight.fixed_batch_loss()
    straight.train()
    after = straight.fixed_batch_loss()
    assert after["loss"] < 0.97 * before["loss"], (before, after)
    other = getattr(straight.models, frozen).state_dict()
    assert all(torch.equal(v, other[k]) for k, v in other_before.items())
    assert part in straight.models.trained_parts

    _trainer(data, tmp_path / "b", stage=stage, steps=3, lr=lr).train()
    resumed = _trainer(data, tmp_path / "b", stage=stage, steps=6, lr=lr, resume=True)
    resumed.train()
    a, b = getattr(straight.models, part).state_dict(), getattr(resumed.models, part).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), part
    # a base stage's folder holds no MTGC parts: the next stage builds them from the trained base
    assert not (tmp_path / "a" / "controlnet").exists()
    nxt = load_profile(tmp_path / "a", device="cpu", local_files_only=True, allow_untrained=True)
    assert torch.equal(getattr(nxt, part).state_dict()[next(iter(a))].float(), a[next(iter(a))].float())
    if stage == "unet":  # ControlNet of the next stage starts as a copy of the trained UNet's encoder
        assert torch.equal(nxt.controlnet.conv_in.weight, nxt.unet.conv_in.weight)


def test_vae_stage_sets_the_latent_scale_to_unit_variance(data, tmp_path):
    tr = _trainer(data, tmp_path / "v", stage="vae", steps=2, lr=1e-3)
    tr.train()
    scale = tr.models.vae.config.scaling_factor
    lat = tr.models.vae.encode(tr.batch(10**6)["images"] * 2 - 1).latent_dist.mean * scale
    assert 0.7 < float(lat.std()) < 1.3
    saved = json.loads((tmp_path / "v" / "vae" / "config.json").read_text())["scaling_factor"]
    assert saved == pytest.approx(scale)


def test_stage_names_and_numbers_are_one_thing(data, tmp_path):
    assert TrainSettings(stage=1, data=data, out=tmp_path).stage == "controlnet"
    assert TrainSettings(stage="3", data=data, out=tmp_path).stage == "joint"
    with pytest.raises(ValueError, match="stage must be one of"):
        TrainSettings(stage="gan", data=data, out=tmp_path)


def test_cli_trains_and_a_stage_mismatch_on_resume_is_refused(data, tmp_path):
    from mtgc_link.cli import app

    out = tmp_path / "c"
    args = ["train", "--stage", "2", "--steps", "1", "--data", str(data), "--out", str(out)]
    args += ["--captions", str(data / "captions.json"), "--batch-size", "1", "--device", "cpu"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "loss=" in res.output and (out / "checkpoint" / "state.json").is_file()
    assert load_profile(out, device="cpu", local_files_only=True).trained is True
    with pytest.raises(TrainError, match="stage 2"):
        _trainer(data, tmp_path / "c", stage=3, steps=2, lr=1e-3, resume=True).train()


def test_bad_data_and_missing_captions_are_named(data, tmp_path, monkeypatch):
    with pytest.raises(TrainError, match="data="):
        list_images(tmp_path / "missing")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    images_only = tmp_path / "imgs"
    images_only.mkdir()
    (images_only / "x.png").write_bytes((data / "kodim01.png").read_bytes())
    from mtgc_link.cli import app

    res = CliRunner().invoke(
        app,
        [
            "train",
            "--stage",
            "1",
            "--data",
            str(images_only),
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 2
    assert "captions" in res.output and "captioner" in res.output


def test_bicubic_hci_fallback_shape():
    img = np.zeros((65, 97, 3), np.uint8)
    assert bicubic_hci(img, 16).shape == (5, 7, 3)
