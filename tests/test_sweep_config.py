"""Sweep config validation: bad input is rejected with the path of the bad value; shipped configs load."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mtgc_link.sweep.config import ConfigError, load_config, parse_config
from mtgc_link.sweep.grid import derive_seed, expand

ROOT = Path(__file__).resolve().parents[1]
GOOD = {
    "name": "t",
    "images": {"source": "demo", "resize": 32, "limit": 2},
    "codecs": [{"name": "jpeg"}],
    "channels": [{"model": "awgn"}, {"model": "tdl", "profile": "A"}],
    "snr_db": [0, 10],
    "budgets": [{"cbr": 0.5}, {"prbs": 4, "slots": 2}],
    "mcs": {"fixed": 9},
    "trials": 2,
    "metrics": ["psnr"],
}


def _bad(**changes) -> str:
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        node, *rest = path.split("__")
        target = data
        keys = [node, *rest]
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "bad.yaml")
    return str(exc.value)


def test_good_config_loads():
    cfg = parse_config(copy.deepcopy(GOOD))
    assert cfg.trials == 2 and cfg.budgets[1].to_budget().label == "4prb x 2slot"
    assert cfg.mcs.label == "fixed9" and cfg.channels[1].display == "TDL-A"


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"codecs__0__setings": {}}, "codecs.0.setings", "Extra inputs"),
        ({"images__resolution": 5}, "images.resolution", "Extra inputs"),
        ({"snr_db": ["loud"]}, "snr_db.0", "number"),
        ({"snr_db": [0, 0]}, "snr_db", "distinct"),
        ({"mcs": {"fixed": 40}}, "mcs.fixed", "less than or equal to 28"),
        ({"mcs": {"fixed": 3, "adaptive": {}}}, "mcs", "exactly one"),
        ({"budgets__0": {"cbr": 0.5, "uses": 100}}, "budgets.0", "exactly one"),
        ({"budgets__1": {"prbs": 4}}, "budgets.1", "together"),
        ({"codecs__0__name": "jpg"}, "codecs.0.name", "unknown codec 'jpg'"),
        ({"channels__1__model": "tld"}, "channels.1.model", "awgn"),
        ({"metrics": ["psnr", "pnsr"]}, "metrics", "unknown metric"),
        ({"failure_policy": "black"}, "failure_policy", "mean"),
        ({"trials": 0}, "trials", "greater than or equal to 1"),
    ],
)
def test_bad_values_name_their_path(changes, path, words):
    msg = _bad(**changes)
    assert "bad.yaml" in msg
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(path + ":")), None)
    assert line is not None, msg
    assert words in line, msg


def test_yaml_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("codecs: [jpeg\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)


@pytest.mark.parametrize(
    "name", ["demo", "kodak_snr_sweep", "bandwidth_sweep", "channels", "mtgc_tiny", "semantic_robustness"]
)
def test_shipped_configs_load(name):
    cfg = load_config(ROOT / "experiments" / "configs" / f"{name}.yaml")
    assert cfg.name == name


def test_demo_yaml_matches_builtin_demo():
    from mtgc_link.sweep.demo import demo_config

    assert load_config(ROOT / "experiments" / "configs" / "demo.yaml") == demo_config()


def test_cli_rejects_bad_config_with_path(tmp_path):
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    data = copy.deepcopy(GOOD)
    data["budgets"][0]["cbr"] = -1
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(app, ["sweep", str(p), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "budgets.0.cbr" in res.output and "greater than 0" in res.output
    assert not (tmp_path / "o").exists()


def test_seeds_shared_across_codecs_distinct_across_trials():
    data = copy.deepcopy(GOOD)
    data["codecs"] = [{"name": "jpeg"}, {"name": "webp"}]
    cfg = parse_config(data)
    shapes = {"a": (32, 32, 3), "b": (32, 24, 3)}
    points, tasks = expand(cfg, shapes, lambda ch, snr: 9, lambda b, m, h, w: 1000 * (b + 1))
    assert len(points) == 2 * 2 * 2 * 2 * 2 * 2 == len({p.key for p in points})
    by = {(p.codec, p.channel, p.snr_db, p.budget, p.image, p.trial): p.seed for p in points}
    for (codec, *rest), seed in by.items():
        assert by[(1 - codec, *rest)] == seed  # common random numbers: both codecs see the same channel
    assert len(set(by.values())) == len(by) // 2
    # the seed is a pure function of (config seed, channel, SNR, budget, MCS, image, trial)
    p = points[5]
    assert p.seed == derive_seed(
        cfg.seed, cfg.channels[p.channel].display, p.snr_db, p.budget, 9, p.image, p.trial
    )
    # one task per (image, codec, payload bits): encode once, whatever channel, SNR or trial
    assert len(tasks) == 2 * 2 * 2 and all(len(t.points) == 2 * 2 * 2 for t in tasks)


def test_demo_mtgc_line(tmp_path, monkeypatch):
    from mtgc_link.codecs.mtgc.config import MTGCConfig
    from mtgc_link.sweep.demo import MTGC_MISSING, demo_config, mtgc_status

    monkeypatch.delenv("MTGC_DEMO_PROFILE", raising=False)
    monkeypatch.setenv("MTGC_COMPACT", str(tmp_path / "no_compact_here"))
    assert mtgc_status() == (None, MTGC_MISSING)
    assert "Stable Diffusion 2.1-base" in MTGC_MISSING and "docs/mtgc.md" in MTGC_MISSING
    assert "train_compact.sh" in MTGC_MISSING
    MTGCConfig.compact().save(tmp_path / "compact", trained=True)
    monkeypatch.setenv("MTGC_COMPACT", str(tmp_path / "compact"))
    assert mtgc_status() == ("compact", "")  # the shipped compact profile joins the demo by default
    MTGCConfig.tiny().save(tmp_path / "untrained", trained=False)
    monkeypatch.setenv("MTGC_DEMO_PROFILE", str(tmp_path / "untrained"))
    profile, why = mtgc_status()
    assert profile is None and "untrained" in why  # random weights never join the demo
    MTGCConfig.tiny().save(tmp_path / "trained", trained=True)
    monkeypatch.setenv("MTGC_DEMO_PROFILE", str(tmp_path / "trained"))
    profile, why = mtgc_status()
    assert profile == str(tmp_path / "trained") and why == ""
    cfg = demo_config(profile)
    assert [c.name for c in cfg.codecs] == ["jpeg", "bpg", "mtgc"] and cfg.codecs[2].settings == {
        "profile": profile
    }
