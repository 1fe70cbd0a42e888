"""`--set key=value` parses like people write it: typed by what the codec declares."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from mtgc_link.cli import app
from mtgc_link.cli.codec import parse_settings
from mtgc_link.codecs import get_codec


def test_bool_int_and_text_settings_are_typed_by_the_codec():
    bpg = get_codec("bpg", **parse_settings(["strict=false", "bit_depth=10", "chroma=420"], "bpg"))
    assert bpg.strict is False and bpg.bit_depth == 10 and not bpg.chroma444
    assert get_codec("bpg", **parse_settings(["strict=TRUE"], "bpg")).strict is True
    mtgc = parse_settings(["caption=42", "steps=4", "profile=tiny"], "mtgc")
    assert mtgc == {"caption": "42", "steps": 4, "profile": "tiny"}  # a caption stays text
    assert parse_settings(["q=5", "x=a"]) == {"q": 5, "x": "a"}  # no codec: literals only


@pytest.mark.parametrize(
    ("item", "named"), [("strict=maybe", "strict"), ("bit_depth=ten", "bit_depth"), ("=3", "key=value")]
)
def test_bad_settings_name_the_key(item, named, capsys):
    with pytest.raises(typer.Exit) as exc:
        parse_settings([item], "bpg")
    assert exc.value.exit_code == 2
    assert named in capsys.readouterr().err


def test_cli_strict_false_reaches_the_codec(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray((np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)).save(src)
    runner = CliRunner()
    bad = runner.invoke(
        app, ["encode", "--codec", "bpg", "--set", "strict=perhaps", str(src), str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "strict" in bad.output and "Traceback" not in bad.output
    ok = runner.invoke(
        app, ["encode", "--codec", "bpg", "--set", "strict=false", str(src), str(tmp_path / "b")]
    )
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("name", ["jpeg", "webp", "bpg"])
def test_failure_reasons_hold_no_memory_address(name):
    """A reason is part of the results table: it must be the same in every run."""
    bad = bytes(range(256)) * 4
    reasons = {get_codec(name).decode(bad).reason for _ in range(2)}
    assert len(reasons) == 1
    (reason,) = reasons
    assert reason and " at 0x" not in reason


def test_rd_json_is_strict_json(tmp_path):
    """`rd --json` of a lossless-looking point (PSNR +inf) is still valid JSON (no Infinity)."""
    import json

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(folder / "flat.png")  # codecs reproduce it
    res = CliRunner().invoke(app, ["rd", "--codec", "webp", "--images", str(folder), "-q", "100", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["results"] and all(r["psnr"] is None or r["psnr"] < 1e6 for r in doc["results"])
