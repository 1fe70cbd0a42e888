"""The documented recipe (experiments/train_compact.sh) runs all six stages in order on the compact preset,
each stage starting from the previous one's folder, and a rerun skips what is finished. One step per stage
(DIV), a few BSDS photos, INSTALL=0 so the shipped weights are left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mtgc_link.codecs.mtgc.profiles import load_profile

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["vae", "clip", "unet", "controlnet", "tascm", "joint"]


@pytest.mark.slow
def test_recipe_runs_every_stage_in_order_and_skips_finished_ones(bsds_dir, tmp_path):
    data = tmp_path / "bsds"
    captions_all = json.loads((bsds_dir / "captions.json").read_text())
    captions = {}
    for split in ("train", "test", "val"):
        (data / split).mkdir(parents=True)
        for p in sorted((bsds_dir / split).glob("*.jpg"))[:2]:
            Image.open(p).convert("RGB").resize((160, 107)).save(data / split / p.name)
            captions[f"{split}/{p.stem}"] = captions_all[f"{split}/{p.stem}"]
    (data / "captions.json").write_text(json.dumps(captions))
    env = dict(
        os.environ,
        BSDS=str(data),
        MTGC=str(Path(sys.executable).parent / "mtgc-link"),
        DIV="100000",
        INSTALL="0",
        OMP_NUM_THREADS="1",
    )
    run = tmp_path / "run"
    cmd = ["bash", str(ROOT / "experiments" / "train_compact.sh"), str(run)]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    for stage in STAGES:
        log = [json.loads(line) for line in (run / stage / "log.jsonl").read_text().splitlines()]
        assert log and log[-1]["stage"] == stage and log[-1]["step"] == 1
    final = load_profile(run / "joint", device="cpu", local_files_only=True)
    assert final.trained and final.config.profile == "compact"
    assert {"vae", "text_encoder", "vision_encoder", "unet", "controlnet", "tascm", "entropy"} <= set(
        final.trained_parts
    )
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.count(": done") == len(STAGES), again.stdout
