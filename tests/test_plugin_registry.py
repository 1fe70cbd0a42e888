"""Plug-in registries find their plug-ins themselves: built-ins by scanning their package, third-party ones
by entry points, lazily; everything else (CLI help, validation) reads the registry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mtgc_link.images
from mtgc_link.registry import Registry, plugin_modules

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_packages_loads_no_plugin_until_the_first_lookup():
    code = textwrap.dedent(
        """
        import sys
        import mtgc_link.codecs, mtgc_link.metrics.base
        plugins = ("mtgc_link.codecs.jpeg", "mtgc_link.codecs.mtgc", "mtgc_link.metrics.clip")
        before = sorted(m for m in plugins if m in sys.modules)
        from mtgc_link.codecs import available_codecs
        from mtgc_link.metrics.base import METRICS
        print(before, available_codecs(), "lpips-alex" in METRICS, "clip-text" in METRICS.names())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[] ['avif', 'bpg', 'jpeg', 'jpeg2000', 'mtgc', 'webp'] True True"


def test_builtin_plugin_modules_are_the_public_children_of_the_package():
    mods = plugin_modules("mtgc_link.codecs")
    assert {"mtgc_link.codecs.jpeg", "mtgc_link.codecs.bpg", "mtgc_link.codecs.mtgc"} <= set(mods)
    assert not [m for m in mods if m.rpartition(".")[2].startswith("_")]
    assert plugin_modules(None) == []


class _EntryPoint:
    def __init__(self, name, value, load):
        self.name, self.value, self._load = name, value, load

    def load(self):
        return self._load()


def test_package_scan_and_entry_points_fill_a_registry(tmp_path, monkeypatch):
    pkg = tmp_path / "demo_plugins"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from mtgc_link.registry import Registry\n"
        "THINGS = Registry('thing', package='demo_plugins', entry_points='demo.things')\n"
    )
    (pkg / "one.py").write_text("from demo_plugins import THINGS\nTHINGS.register('one')(1)\n")
    (pkg / "sub" / "__init__.py").write_text("from demo_plugins import THINGS\nTHINGS.register('two')(2)\n")
    (pkg / "_private.py").write_text("raise RuntimeError('private modules are never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def third_party():
        from demo_plugins import THINGS

        THINGS.register("three")(3)

    def broken():
        raise ImportError("no module named missing_dependency")

    eps = [_EntryPoint("three", "vendor.three", third_party), _EntryPoint("bad", "vendor.bad", broken)]
    monkeypatch.setattr(
        "importlib.metadata.entry_points", lambda group: eps if group == "demo.things" else ()
    )
    import demo_plugins

    try:
        assert demo_plugins.THINGS._items == {}  # nothing before the first look-up
        with pytest.warns(RuntimeWarning, match=r"plug-in 'bad' \(vendor.bad.*skipped.*missing_dependency"):
            assert demo_plugins.THINGS.names() == ["one", "three", "two"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # discovery ran once: no second warning
            assert demo_plugins.THINGS.get("three") == 3 and "two" in demo_plugins.THINGS
        with pytest.raises(KeyError, match="known: one, three, two"):
            demo_plugins.THINGS.get("four")
    finally:
        for name in [m for m in sys.modules if m == "demo_plugins" or m.startswith("demo_plugins.")]:
            del sys.modules[name]


def test_a_registry_without_sources_is_a_plain_dict():
    reg: Registry[int] = Registry("executor")
    reg.register("local")(1)
    assert reg.names() == ["local"] and reg.get("local") == 1
    with pytest.raises(ValueError, match="already registered"):
        reg.register("local")(2)


def test_cli_codec_help_lists_the_registry():
    from mtgc_link.cli import app
    from mtgc_link.codecs import available_codecs

    for command in ("encode", "decode", "rd", "transmit"):
        res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        assert "{codecs}" not in res.output
        assert ", ".join(available_codecs()) in res.output, res.output


def test_one_image_validator_and_converter():
    from mtgc_link import codecs, metrics
    from mtgc_link.codecs.mtgc import codec as mtgc_codec
    from mtgc_link.codecs.pillow_codecs import DEFAULT_MAX_PIXELS
    from mtgc_link.metrics import perceptual

    assert codecs.check_image is metrics.check_image is mtgc_link.images.check_image
    assert perceptual.to_tensor is mtgc_link.images.to_tensor
    assert mtgc_codec.MAX_PIXELS == DEFAULT_MAX_PIXELS == mtgc_link.images.MAX_PIXELS
    img = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(TypeError, match="image must have dtype uint8"):
        codecs.get_codec("jpeg").encode(img.astype(np.float32))
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        codecs.get_codec("jpeg").encode(img[..., :2])
    t = mtgc_link.images.to_tensor(np.stack([img, img + 255]), -1, 1)
    assert t.shape == (2, 3, 4, 5) and float(t.min()) == -1.0 and float(t.max()) == 1.0
    assert mtgc_link.images.is_image_file("A/B.JPG") and not mtgc_link.images.is_image_file("notes.txt")
