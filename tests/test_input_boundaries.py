"""Input at every boundary (CLI, YAML config, Python API): bad numbers, settings and output paths are refused
before any work with one line naming the option or config path; list options and help texts read alike in
every command."""

from __future__ import annotations

import copy
import math
import os
import re
import sys

import numpy as np
import pytest
import yaml
from PIL import Image
from pydantic import ValidationError
from typer.testing import CliRunner

from channels import ChannelConfig, PhyConfig
from channels.config import SNR_DB_RANGE, check_snr_db
from mtgc_link.cli import app
from mtgc_link.sweep.config import ConfigError, load_config, parse_config

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray((np.arange(32 * 40 * 3) % 251).astype(np.uint8).reshape(32, 40, 3)).save(path)
    return path


@pytest.fixture
def no_encode(monkeypatch):
    """Any encode fails the test: refusals must come before the work."""
    from mtgc_link.codecs.mtgc.codec import MTGCCodec
    from mtgc_link.codecs.ratecontrol import LadderCodec

    def boom(self, *args, **kwargs):
        raise AssertionError("encode ran although the input was bad")

    monkeypatch.setattr(LadderCodec, "encode", boom)
    monkeypatch.setattr(MTGCCodec, "encode", boom)


def _refused(res, option: str) -> str:
    """Exit 2, one line on stderr naming ``option``, no traceback; returns the line."""
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(option + ":") or lines[0].startswith(option + " "), lines[0]
    assert "Traceback" not in res.output
    return lines[0]


# ---------------------------------------------------------------------------------------------- transmit
TRANSMIT_BAD = [
    (["--snr-db", "nan"], "--snr-db", "finite"),
    (["--snr-db", "inf"], "--snr-db", "finite"),
    (["--snr-db", "-inf"], "--snr-db", "finite"),
    (["--snr-db", "100"], "--snr-db", "[-50, 80] dB"),
    (["--snr-db", "abc"], "--snr-db", "number"),
    (["--cbr", "inf"], "--cbr", "> 0"),
    (["--cbr", "nan"], "--cbr", "> 0"),
    (["--cbr", "0"], "--cbr", "> 0"),
    (["--seed", "-1"], "--seed", "0"),
    (["--seed", "1.5"], "--seed", "integer"),
    (["--uses", "0"], "--uses", "1"),
    (["--speed-mps", "nan"], "--speed-mps", "finite"),
    (["--speed-mps", "-1"], "--speed-mps", "greater than or equal to 0"),
    (["--delay-spread-ns", "inf"], "--delay-spread-ns", "finite"),
    (["--delay-spread-ns", "0"], "--delay-spread-ns", "greater than 0"),
    (["--mcs", "40"], "--mcs", "0..28"),
    (["--mcs", "1"], "--mcs", "below 1/5"),
    (["--mcs-table", "3"], "--mcs-table", "MCS table 3"),
    (["--num-prbs", "300"], "--num-prbs", "less than or equal to 275"),
    (["--channel", "tdl", "--channel-profile", "Z"], "--channel-profile", "'Z'"),
    (["--csi", "magic"], "--csi", "perfect"),
    (["--harq-max-tx", "0"], "--harq-max-tx", "1"),
    (["--harq-max-tx", "17"], "--harq-max-tx", "16"),
    (["--set", "max_pixels=0"], "--set max_pixels", ">= 1"),
    (["--set", "chroma=422"], "--set chroma", "420"),
    (["--set", "strict=false"], "--set strict", "no setting 'strict'"),
    (["--profile", "tiny"], "--profile", "no setting 'profile'"),
    (["--protection", "uep", "--uep-mcs", "header=3,sematic=2"], "--uep-mcs", "sematic"),
]


@pytest.mark.parametrize(
    ("extra", "option", "words"), TRANSMIT_BAD, ids=[" ".join(c[0]) for c in TRANSMIT_BAD]
)
def test_transmit_refuses_bad_numbers_before_encoding(runner, png, tmp_path, no_encode, extra, option, words):
    out = tmp_path / "out.png"
    base = {"--snr-db": "10", "--cbr": "0.5"}
    for opt in ("--snr-db", "--cbr"):
        if opt in extra or (opt == "--cbr" and "--uses" in extra):
            base.pop(opt)
    args = [
        "transmit",
        "--codec",
        "jpeg",
        *[x for kv in base.items() for x in kv],
        *extra,
        str(png),
        str(out),
    ]
    line = _refused(runner.invoke(app, args), option)
    assert words in line, line
    assert not out.exists()


@pytest.mark.parametrize("where", ["folder", "missing", "under_file"])
def test_transmit_checks_the_output_path_first(runner, png, tmp_path, no_encode, where):
    (tmp_path / "a_file").write_text("x")
    out = {
        "folder": tmp_path,
        "missing": tmp_path / "no" / "such" / "out.png",
        "under_file": tmp_path / "a_file" / "out.png",
    }[where]
    args = ["transmit", "--codec", "jpeg", "--snr-db", "10", "--cbr", "0.5", str(png), str(out)]
    line = _refused(runner.invoke(app, args), "OUT")
    assert "cannot write" in line and str(out) in line
    assert not (tmp_path / "no").exists()  # a refused run creates no folders


def test_transmit_profile_is_the_mtgc_profile_and_csi_defaults_to_ls(runner, png, tmp_path, monkeypatch):
    """`--profile` means what it means in encode (the MTGC models); the channel's is `--channel-profile`."""
    import mtgc_link.link

    seen = {}

    class Stop(Exception):
        pass

    def fake_run_link(img, src, phy, budget, snr_db, **kw):
        seen.update(codec=src, phy=phy, snr_db=snr_db, seed=kw["seed"])
        raise Stop

    monkeypatch.setattr(mtgc_link.link, "run_link", fake_run_link)
    args = ["transmit", "--codec", "mtgc", "--profile", "tiny", "--snr-db", "-3.5", "--cbr", "0.1"]
    args += ["--channel", "tdl", "--channel-profile", "c", "--seed", "7", str(png), str(tmp_path / "o.png")]
    res = runner.invoke(app, args)
    assert isinstance(res.exception, Stop), res.output
    assert seen["codec"].name == "mtgc" and seen["codec"].profile == "tiny"
    phy = seen["phy"]
    assert (phy.channel.model, phy.channel.profile, phy.csi) == ("tdl", "C", "ls")
    assert seen["snr_db"] == -3.5 and seen["seed"] == 7


def test_transmit_default_csi_matches_phy_and_sweeps():
    from typer.main import get_command

    from mtgc_link.sweep.config import PhySpec

    root = get_command(app)
    ctx = root.make_context("mtgc-link", ["transmit", "--help"], resilient_parsing=True)
    defaults = {}
    for name, cmd in [("transmit", root.get_command(ctx, "transmit"))] + [
        (f"phy {sub}", root.get_command(ctx, "phy").get_command(ctx, sub)) for sub in ("ber", "bler")
    ]:
        params = {p.name: p for p in cmd.params}
        defaults[name] = params["csi"].default
        opts = {o for p in cmd.params for o in p.opts}
        assert "--channel-profile" in opts, name
        if name.startswith("phy"):
            assert "--profile" not in opts  # one meaning per option name: --profile is MTGC's
    assert set(defaults.values()) == {PhySpec().csi} == {"ls"}


# ------------------------------------------------------------------------------------- encode / decode / rd
@pytest.mark.parametrize(
    ("extra", "option", "words"),
    [
        (["--quality", "nan"], "--quality", "finite"),
        (["-q", "inf"], "--quality", "finite"),
        (["--quality", "200"], "--quality", "1..100"),
        (["--max-bits", "0"], "--max-bits", "1"),
        (["--set", "max_pixels=-5"], "--set max_pixels", ">= 1"),
        (["--profile", "tiny"], "--profile", "no setting 'profile'"),
    ],
)
def test_encode_refuses_bad_numbers_before_encoding(runner, png, tmp_path, no_encode, extra, option, words):
    out = tmp_path / "x.bin"
    line = _refused(runner.invoke(app, ["encode", "--codec", "jpeg", *extra, str(png), str(out)]), option)
    assert words in line, line
    assert not out.exists()


def test_encode_and_decode_check_output_paths_first(runner, png, tmp_path, no_encode, monkeypatch):
    line = _refused(runner.invoke(app, ["encode", "--codec", "jpeg", str(png), str(tmp_path)]), "OUT")
    assert "is a folder" in line
    if sys.platform.startswith("linux"):  # /proc takes no new files, not even from root
        line = _refused(runner.invoke(app, ["encode", "--codec", "jpeg", str(png), "/proc/x.bin"]), "OUT")
        assert "not writable" in line
    from mtgc_link.codecs.jpeg import JpegCodec

    def no_decode(self, data):
        raise AssertionError("decode ran although OUT was bad")

    monkeypatch.setattr(JpegCodec, "decode", no_decode)
    data = tmp_path / "x.bin"
    data.write_bytes(b"\x00" * 16)
    line = _refused(
        runner.invoke(app, ["decode", "--codec", "jpeg", str(data), str(tmp_path / "o.xyz")]), "OUT"
    )
    assert "suffix Pillow writes" in line
    assert not (tmp_path / "o.xyz").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder_is_refused(runner, png, tmp_path, no_encode):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        line = _refused(runner.invoke(app, ["encode", "--codec", "jpeg", str(png), str(ro / "x.bin")]), "OUT")
        assert "not writable" in line
    finally:
        ro.chmod(0o700)


def test_rd_limit_and_quality_are_checked(runner, png, tmp_path, no_encode):
    folder = png.parent
    _refused(
        runner.invoke(app, ["rd", "--codec", "jpeg", "--images", str(folder), "-q", "50", "--limit", "0"]),
        "--limit",
    )
    line = _refused(
        runner.invoke(app, ["rd", "--codec", "jpeg", "--images", str(folder), "-q", "50", "nan"]), "--quality"
    )
    assert "nan" in line
    line = _refused(
        runner.invoke(app, ["rd", "--codec", "jpeg", "--images", str(folder), "-q", "50,x"]), "--quality"
    )
    assert "'x'" in line


@pytest.mark.parametrize(
    "form", [["-q", "20", "50"], ["-q", "20,50"], ["-q", "20", "-q", "50"], ["--quality=20", "50"]]
)
def test_rd_list_forms_agree(runner, png, form):
    import json

    res = runner.invoke(app, ["rd", "--codec", "jpeg", "--images", str(png.parent), *form, "--json"])
    assert res.exit_code == 0, res.output
    assert [m["quality"] for m in json.loads(res.stdout)["mean"]] == [20, 50]


# ------------------------------------------------------------------------------------------------------ phy
@pytest.fixture
def no_monte_carlo(monkeypatch):
    import channels.sim

    def boom(*args, **kwargs):
        raise AssertionError("the simulation ran although the input was bad")

    monkeypatch.setattr(channels.sim, "monte_carlo", boom)


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (["--snr-db", "nan"], "--snr-db", "finite"),
        (["--snr-db", "0", "2", "200"], "--snr-db", "200"),
        (["--ebno-db", "inf"], "--ebno-db", "finite"),
        (["--ebno-db", "100"], "--ebno-db", "outside [-50, 80] dB"),
        (["--snr-db", "5", "--seed", "-1"], "--seed", "0"),
        (["--snr-db", "5", "--prbs", "300"], "--prbs", "less than or equal to 275"),
        (["--snr-db", "5", "--speed-mps", "nan"], "--speed-mps", "finite"),
        (["--snr-db", "5", "--channel", "cdl", "--channel-profile", "Q"], "--channel-profile", "'Q'"),
        (["--snr-db", "5", "--code-rate", "nan", "--modulation", "qpsk"], "--code-rate", "finite"),
        (["--snr-db", "5", "--profile", "A"], "No such option: --profile", "--channel-profile"),
    ],
)
def test_phy_refuses_bad_input_before_simulating(runner, no_monte_carlo, args, option, words):
    line = _refused(runner.invoke(app, ["phy", "bler", *args]), option)
    assert words in line, line


def test_phy_plot_path_checked_first(runner, no_monte_carlo, tmp_path):
    plot = tmp_path / "sub"
    plot.mkdir()
    bad = tmp_path / "sub.png"
    bad.mkdir()  # a folder named like a figure
    line = _refused(
        runner.invoke(app, ["phy", "ber", "--uncoded", "--snr-db", "1", "--plot", str(bad)]), "--plot"
    )
    assert "is a folder" in line


@pytest.mark.parametrize(
    "form",
    [
        ["--snr-db", "-2", "0", "2"],
        ["--snr-db", "-2,0,2"],
        ["--snr-db", "-2", "--snr-db", "0", "--snr-db", "2"],
    ],
)
def test_phy_list_forms_agree(runner, form):
    import json

    args = ["phy", "ber", "--uncoded", *form, "--max-bits", "2000", "--min-errors", "1", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [p["snr_db"] for p in json.loads(res.stdout)] == [-2.0, 0.0, 2.0]


def test_list_expansion_leaves_paths_and_settings_alone():
    from mtgc_link.cli.app import expand_list_options

    class Opt:
        param_type_name, multiple, secondary_opts = "option", True, []

        def __init__(self, *opts):
            self.opts = list(opts)

    class Cmd:
        params = [Opt("--snr-db"), Opt("--set")]

    args = ["--snr-db", "0", "2,4", "-6", "--set", "a=1", "in.png", "--snr-db=8", "9", "--", "10"]
    assert expand_list_options(Cmd, args) == [
        "--snr-db", "0", "--snr-db", "2,4", "--snr-db", "-6", "--set", "a=1", "in.png",
        "--snr-db=8", "--snr-db", "9", "--", "10",
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------------ train
@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--seed", "-1"], "--seed"),
        (["--lr", "nan"], "--lr"),
        (["--steps", "0"], "--steps"),
        (["--rate-lambda", "inf"], "--rate-lambda"),
    ],
)
def test_train_refuses_bad_numbers(runner, tmp_path, monkeypatch, extra, option):
    import mtgc_link.codecs.mtgc.train as train

    monkeypatch.setattr(train, "run", lambda s: pytest.fail("training started although the input was bad"))
    out = tmp_path / "out"
    args = ["train", "--stage", "vae", "--data", str(tmp_path), "--out", str(out), *extra]
    _refused(runner.invoke(app, args), option)
    assert not out.exists()


def test_train_out_must_be_a_folder(runner, tmp_path, monkeypatch):
    import mtgc_link.codecs.mtgc.train as train

    monkeypatch.setattr(train, "run", lambda s: pytest.fail("training started although --out was bad"))
    out = tmp_path / "a_file"
    out.write_text("x")
    line = _refused(
        runner.invoke(app, ["train", "--stage", "vae", "--data", str(tmp_path), "--out", str(out)]), "--out"
    )
    assert "is a file" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["transmit", "--codec", "jpeg", "--snr-db", "3", "in.png"], "Missing argument 'out'"),
        (["transmit", "--snr-db", "3", "in.png", "out.png"], "Missing option '--codec'"),
        (["encode", "--codec", "jpeg", "--qualty", "5", "a.png", "b.bin"], "No such option: --qualty"),
        (["nosuch"], "No such command 'nosuch'"),
        (["phy", "bler", "--snr-db", "1", "extra"], "unexpected extra argument"),
    ],
)
def test_click_usage_errors_are_one_line(runner, args, words):
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "--help" in lines[0], res.stderr


def test_no_arguments_still_print_the_help(runner):
    for args in ([], ["phy"]):
        res = runner.invoke(app, args)
        assert "Usage" in res.output and "Traceback" not in res.output, res.output


# ------------------------------------------------------------------------------------------------------ help
def _commands():
    from typer.main import get_command

    root = get_command(app)
    ctx = root.make_context("mtgc-link", ["--help"], resilient_parsing=True)
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):
            for sub in cmd.list_commands(ctx):
                yield [name, sub], cmd.get_command(ctx, sub)
        else:
            yield [name], cmd


def test_help_texts_survive_rich_markup():
    """Rich reads `[ns]` as a style tag and drops it: no help text may hold what markup would eat."""
    from rich.text import Text

    from mtgc_link.cli.app import fill_registry_help

    checked = 0
    for path, cmd in _commands():
        for param in cmd.params:
            text = fill_registry_help(getattr(param, "help", None))
            if text:
                assert Text.from_markup(text).plain == text, (path, param.name, text)
                checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    ("command", "units"),
    [
        (["transmit"], ["(ns)", "(m/s", "(dB)"]),
        (["phy", "ber"], ["(ns)", "(m/s", "(dB)"]),
        (["phy", "bler"], ["(ns)", "(m/s", "(dB)"]),
    ],
)
def test_rendered_help_keeps_units(runner, command, units):
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.output).split())
    for unit in units:
        assert unit in flat, (command, unit)
    assert "spread (ns)" in flat and "UE speed (m/s, Doppler)" in flat


def test_every_command_renders_its_help(runner):
    for path, _ in _commands():
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output, (path, res.output)


# ---------------------------------------------------------------------------------------------- sweep config
GOOD = {
    "name": "t",
    "images": {"source": "demo", "resize": 32, "limit": 2},
    "codecs": [{"name": "jpeg"}, {"name": "webp", "settings": {"method": 4}}],
    "channels": [{"model": "awgn"}, {"model": "tdl", "profile": "A"}],
    "snr_db": [0, 10],
    "budgets": [{"cbr": 0.5}, {"prbs": 4, "slots": 2}],
    "mcs": {"fixed": 9},
    "metrics": ["psnr"],
}


def _set(data, path, value):
    *head, last = path.split(".")
    node = data
    for k in head:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


CONFIG_BAD = [
    ("snr_db", [0, NAN], "snr_db.1", "finite"),
    ("snr_db", [0, INF], "snr_db.1", "finite"),
    ("snr_db", [0, 81], "snr_db", "[-50, 80] dB"),
    ("budgets.0.cbr", INF, "budgets.0.cbr", "finite"),
    ("budgets.0.cbr", NAN, "budgets.0.cbr", "finite"),
    ("budgets.1.slots", 0, "budgets.1.slots", "greater than or equal to 1"),
    ("budgets.1.prbs", 2.5, "budgets.1.prbs", "integer"),
    ("budgets", [{"cbr": 0.5}, {"uses": 900}, {"cbr": 0.5}], "budgets", "cbr=0.5 (entries 0, 2)"),
    ("seed", -1, "seed", "greater than or equal to 0"),
    ("seed", 2**40, "seed", "less than or equal to"),
    ("trials", 0, "trials", "greater than or equal to 1"),
    ("images.limit", 0, "images.limit", "greater than or equal to 1"),
    ("channels.1.speed_mps", NAN, "channels.1.speed_mps", "finite"),
    ("channels.1.delay_spread_ns", INF, "channels.1.delay_spread_ns", "finite"),
    ("channels.1.carrier_hz", INF, "channels.1.carrier_hz", "finite"),
    ("channels.1.profile", "Z", "channels.1.profile", "unknown TDL/CDL profile 'Z'"),
    ("mcs", {"fixed": 2}, "mcs.fixed", "3..28"),
    ("mcs", {"adaptive": {"candidates": [1, 9]}}, "mcs.adaptive.candidates", "MCS 1"),
    ("mcs", {"adaptive": {"seed": -3}}, "mcs.adaptive.seed", "greater than or equal to 0"),
    ("mcs", {"adaptive": {"snr_grid_db": [0, INF]}}, "mcs.adaptive.snr_grid_db.1", "finite"),
    ("mcs", {"adaptive": {"target_bler": NAN}}, "mcs.adaptive.target_bler", "finite"),
    ("phy.num_prbs", 300, "phy.num_prbs", "Input should be less than or equal to 275"),
    ("phy.dmrs_length", 2, "phy", "dmrs_additional_position must be <= 1"),
    ("phy.code_rate", 0.5, "phy.code_rate", "Extra inputs"),
    ("metrics", ["psnr", "psnr"], "metrics", "distinct"),
    ("save_images", {"snr_db": [INF]}, "save_images.snr_db.0", "finite"),
    ("codecs.1.settings", {"method": 9}, "codecs.1.settings.method", "method must be in 0..6, got 9"),
    ("codecs.1.settings", {"metod": 4}, "codecs.1.settings.metod", "no setting 'metod'"),
    ("codecs.0.settings", {"max_pixels": 0}, "codecs.0.settings.max_pixels", ">= 1"),
    ("codecs.0.settings", {"chroma": 422}, "codecs.0.settings.chroma", "'420' or '444'"),
    (
        "codecs.0",
        {"name": "bpg", "settings": {"strict": "false"}},
        "codecs.0.settings.strict",
        "true or false",
    ),
    ("codecs.0", {"name": "bpg", "settings": {"bit_depth": 8.5}}, "codecs.0.settings.bit_depth", "integer"),
    (
        "codecs.0",
        {"name": "mtgc", "settings": {"profile": "tiny", "seed": -1}},
        "codecs.0.settings.seed",
        "0..",
    ),
]


@pytest.mark.parametrize(
    ("where", "value", "path", "words"), CONFIG_BAD, ids=[f"{c[0]}={c[1]!r}" for c in CONFIG_BAD]
)
def test_config_refuses_with_the_path(where, value, path, words):
    data = copy.deepcopy(GOOD)
    _set(data, where, value)
    if where == "phy.dmrs_length":
        data["phy"]["dmrs_additional_position"] = 2
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "bad.yaml")
    msg = str(exc.value)
    lines = msg.splitlines()
    assert lines[0] == "invalid sweep config bad.yaml:"
    hit = [ln.strip() for ln in lines[1:] if ln.strip().startswith(path + ":")]
    assert hit and words in hit[0], msg
    assert (
        "errors.pydantic.dev" not in msg and "type=" not in msg and "Value error," not in msg
    )  # no raw dump


def test_config_mcs_follows_the_table():
    data = copy.deepcopy(GOOD)
    data["phy"], data["mcs"] = {"mcs_table": 2}, {"fixed": 28}
    with pytest.raises(ConfigError, match=r"mcs\.fixed: MCS 28 .*2\.\.27"):
        parse_config(data)
    data["mcs"] = {"fixed": 27}
    assert parse_config(data).mcs.fixed == 27


def test_yaml_inf_budget_refused_at_load(tmp_path):
    p = tmp_path / "c.yaml"
    text = yaml.safe_dump(GOOD).replace("cbr: 0.5", "cbr: .inf")
    assert ".inf" in text
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"budgets\.0\.cbr: Input should be a finite number"):
        load_config(p)


def test_codec_settings_checked_without_loading_models(monkeypatch):
    import mtgc_link.codecs.mtgc.codec as mtgc_codec

    monkeypatch.setattr(mtgc_codec, "_load_models", lambda *a, **k: pytest.fail("models loaded to validate"))
    data = copy.deepcopy(GOOD)
    data["codecs"] = [{"name": "mtgc", "settings": {"profile": "compact", "steps": 4, "k": 2}}]
    assert parse_config(data).codecs[0].settings["steps"] == 4
    data["codecs"] = [{"name": "mtgc", "settings": {"profile": "compact", "steps": 0}}]
    with pytest.raises(
        ConfigError, match=r"codecs\.0\.settings\.steps: steps must be an integer in 1\.\.255"
    ):
        parse_config(data)


def test_good_config_still_loads_and_keeps_its_hash():
    cfg = parse_config(copy.deepcopy(GOOD))
    assert cfg.codecs[1].settings == {"method": 4} and cfg.seed == 0
    assert cfg.config_hash() == parse_config(copy.deepcopy(GOOD)).config_hash()


# ---------------------------------------------------------------------------------------------- Python API
@pytest.mark.parametrize("field", ["delay_spread_ns", "speed_mps", "carrier_hz"])
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_channel_config_refuses_non_finite(field, value):
    with pytest.raises(ValidationError) as exc:
        ChannelConfig(model="tdl", **{field: value})
    (err,) = exc.value.errors()
    assert err["loc"] == (field,) and err["type"] == "finite_number"


@pytest.mark.parametrize("value", [NAN, INF])
def test_phy_config_refuses_non_finite(value):
    with pytest.raises(ValidationError, match="finite"):
        PhyConfig(modulation_order=2, code_rate=value)
    with pytest.raises(ValidationError, match="finite"):
        PhyConfig(channel={"model": "tdl", "speed_mps": value})


def test_snr_range_is_shared():
    from mtgc_link.cli.app import SEED_MAX, SEED_MIN
    from mtgc_link.sweep.config import SEED_RANGE

    assert SNR_DB_RANGE == (-50.0, 80.0) and (SEED_MIN, SEED_MAX) == SEED_RANGE
    assert check_snr_db(-50) == -50.0 and check_snr_db(80) == 80.0
    for bad in (NAN, INF, -INF, 80.5, -51, "loud", True):
        with pytest.raises(ValueError, match="snr"):
            check_snr_db(bad, "snr")
    assert math.isclose(check_snr_db("3.5"), 3.5)


def test_check_settings_follows_the_constructor():
    from mtgc_link.codecs.base import SettingError, SourceCodec

    built = []

    class Base(SourceCodec):
        name = "base"

        def __init__(self, level: int = 1, ratio: float = 0.5) -> None:
            if level > 9:
                raise ValueError(f"level must be <= 9, got {level}")
            built.append(level)

        def encode(self, image, max_bits=None, quality=None):  # pragma: no cover
            raise NotImplementedError

        def decode(self, data):  # pragma: no cover
            raise NotImplementedError

    class Child(Base):
        name = "child"

        def __init__(self, mode: str = "a", verbose: bool = False, **kw) -> None:
            super().__init__(**kw)

    Child.check_settings({"mode": "b", "level": 3, "ratio": 2, "verbose": True})
    assert built == [3]
    for settings, key, words in [
        ({"lvl": 3}, "lvl", "takes: level, mode, ratio, verbose"),
        ({"level": 2.5}, "level", "integer"),
        ({"level": True}, "level", "integer"),
        ({"ratio": NAN}, "ratio", "finite"),
        ({"verbose": "no"}, "verbose", "true or false"),
        ({"level": 12}, "level", "<= 9"),
    ]:
        with pytest.raises(SettingError) as exc:
            Child.check_settings(settings)
        assert exc.value.key == key and words in str(exc.value), (settings, str(exc.value))
    Child.cheap_init = False  # a codec with a heavy constructor: types only, nothing built
    Child.check_settings({"level": 12})
    assert built == [3]
