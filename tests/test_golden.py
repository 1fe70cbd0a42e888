"""Golden files: bytes and values that must not change by accident (tests/expected/README.md).

The MTGC v1 bitstream is a format and the sweep's decode cache assumes decoding is a pure function of the
bytes, so the layout, the caption coder's output, the bytes down the rate ladder and a slice of the tiny
decoder's output are frozen in ``tests/expected/*.json``. A deliberate change is recorded by regenerating::

    GENERATE_EXPECTED=1 .venv/bin/pytest tests/test_golden.py

(which rewrites the files; review the diff and mention the format change in the commit message).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtgc_link.codecs.mtgc import bitstream as bs

# ---------------------------------------------------------------------------------------------------------
# The shared helper: load / compare / regenerate
# ---------------------------------------------------------------------------------------------------------
EXPECTED_DIR = Path(__file__).resolve().parent / "expected"
REGENERATE = os.environ.get("GENERATE_EXPECTED", "").strip().lower() not in ("", "0", "false", "no")
REGENERATE_HINT = (
    "If this change is intended (a deliberate format or codec change), regenerate the golden files with\n"
    "    GENERATE_EXPECTED=1 .venv/bin/pytest tests/test_golden.py\n"
    "review the diff of tests/expected/ and say so in the commit message (see tests/expected/README.md).\n"
    "Otherwise the output changed by accident: streams already written (and the sweep's decode cache)\n"
    "would no longer mean the same thing."
)
MAX_DIFF_LINES = 12
JSON_LINE = 100


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists, ...), so that comparisons are like for like."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def _dumps(value: Any, indent: str = "") -> str:
    """JSON with anything that fits in ``JSON_LINE`` characters on one line (short, readable diffs)."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or len(indent) + len(flat) <= JSON_LINE or not value:
        return flat
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + f"\n{indent}]"


def _diff(expected: Any, actual: Any, path: str = "", *, atol: float = 0.0) -> list[str]:
    """Human-readable differences (``path: expected ..., got ...``); floats compare within ``atol``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{path}.{k}: missing now (expected {expected[k]!r})" for k in expected if k not in actual]
        out += [f"{path}.{k}: new key (not in the golden file)" for k in actual if k not in expected]
        for k in expected:
            if k in actual:
                out += _diff(expected[k], actual[k], f"{path}.{k}", atol=atol)
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in _diff(e, a, f"{path}[{i}]", atol=atol)
        ]
    numbers = (int, float)
    if (
        atol
        and isinstance(expected, numbers)
        and isinstance(actual, numbers)
        and not isinstance(expected, bool)
        and not isinstance(actual, bool)
    ):
        return [] if abs(expected - actual) <= atol else [f"{path}: expected {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def _fail(name: str, problems: list[str], note: str = "") -> None:
    shown = problems[:MAX_DIFF_LINES]
    more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    pytest.fail(
        f"tests/expected/{name} differs from what the code produces now:\n  "
        + "\n  ".join(shown)
        + more
        + (f"\n{note}" if note else "")
        + f"\n{REGENERATE_HINT}",
        pytrace=False,
    )


def load_golden(name: str) -> dict[str, Any]:
    """The stored content of ``tests/expected/<name>``; fails (saying how to create it) when absent."""
    path = EXPECTED_DIR / name
    if not path.exists():
        pytest.fail(f"golden file {path} is missing.\n{REGENERATE_HINT}", pytrace=False)
    return json.loads(path.read_text(encoding="utf-8"))


def write_golden(name: str, actual: dict[str, Any], info: dict[str, Any] | None = None) -> None:
    """Write ``actual`` (plus ``recorded_with``: the informational ``info``, never compared)."""
    EXPECTED_DIR.mkdir(exist_ok=True)
    content = {"recorded_with": _jsonable(info or {}), **_jsonable(actual)}
    text = _dumps(content) + "\n"
    (EXPECTED_DIR / name).write_text(text, encoding="utf-8")


def check_golden(
    name: str,
    actual: dict[str, Any],
    *,
    info: dict[str, Any] | None = None,
    atol: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Compare ``actual`` with ``tests/expected/<name>``, or (``GENERATE_EXPECTED=1``) write it there.

    Exact comparison, except top-level keys named in ``atol`` (their numbers may differ by at most that).
    The stored ``recorded_with`` (library versions) is shown on failure, to tell an update from a change.
    Returns what is stored (without ``recorded_with``).
    """
    if REGENERATE:
        write_golden(name, actual, info)
    stored = load_golden(name)
    recorded = stored.pop("recorded_with", {})
    actual, atol = _jsonable(actual), atol or {}
    problems = [f".{k}: missing now" for k in stored if k not in actual]
    problems += [f".{k}: new key (not in the golden file)" for k in actual if k not in stored]
    for k in stored:
        if k in actual:
            problems += _diff(stored[k], actual[k], f".{k}", atol=atol.get(k, 0.0))
    if problems:
        info = _jsonable(info or {})
        note = f"(recorded with {recorded}, running with {info})" if info and recorded != info else ""
        _fail(name, problems, note)
    return stored


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Fixed inputs
# ---------------------------------------------------------------------------------------------------------
def synthetic_image(seed: int = 2024, height: int = 96, width: int = 128) -> np.ndarray:
    """A fixed uint8 (96, 128, 3) test picture: smooth gradients, a disc, a box, a triangle, fine texture.

    Integer arithmetic only (no RNG stream, no sin/exp), so it is bit-identical on every numpy and CPU;
    its sha256 is frozen too, so a change here is reported as a change of the *input*.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    img = np.empty((height, width, 3), np.int64)
    img[..., 0] = 255 * x // (width - 1)  # horizontal ramp
    img[..., 1] = 255 * y // (height - 1)  # vertical ramp
    img[..., 2] = 200 - ((x - width // 2) ** 2 + (y - height // 2) ** 2) // 40  # a smooth bump
    img[(y - 30) ** 2 + (x - 36) ** 2 < 14**2] = (220, 40, 40)  # red disc
    img[55:82, 74:116] = (30, 60, 200)  # blue box
    img[(y >= 6) & (y < 44) & (2 * np.abs(x - 98) < y - 6)] = (240, 220, 60)  # yellow triangle
    texture = ((x * 73856093) ^ (y * 19349663) ^ seed) % 9 - 4  # a hash, +-4 levels
    img += texture[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


CAPTION = "a red disc, a blue box and a yellow triangle over a smooth colour gradient"
CODEC_KW = dict(profile="tiny", seed=7, steps=4, caption=CAPTION)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image()


@pytest.fixture(scope="module")
def mtgc():
    from mtgc_link.codecs import get_codec

    return get_codec("mtgc", **CODEC_KW)


# ---------------------------------------------------------------------------------------------------------
# (a) the MTGC v1 bitstream layout
# ---------------------------------------------------------------------------------------------------------
# Hand-chosen header fields and segment payloads (not produced by any model: the layout alone is frozen).
_SEGMENTS = {
    "caption": b"\x9a\x1f\x03\x7e\xc4",
    "hci": bytes(range(0x10, 0x30)),
    "spw": b"\x00\xff\x55\xaa\x01\x80",
}
BITSTREAM_CASES: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "all_modalities": (
        dict(profile_id=1, height=96, width=128, seed=0xDEADBEEF, k=4, hci_scale=8, steps=4),
        dict(_SEGMENTS),
    ),
    "caption_absent": (
        dict(profile_id=3, height=512, width=768, seed=7, k=8, hci_scale=16, steps=20),
        {m: _SEGMENTS[m] for m in ("hci", "spw")},
    ),
    "spw_absent": (
        dict(profile_id=2, height=768, width=512, seed=0, k=0, hci_scale=4, steps=50),
        {m: _SEGMENTS[m] for m in ("caption", "hci")},
    ),
    "caption_only": (
        dict(profile_id=1, height=1, width=1, seed=1, k=0, hci_scale=1, steps=1),
        {"caption": _SEGMENTS["caption"]},
    ),
    "field_maxima_empty_segment": (  # every field at its upper limit; a zero-length SPW segment
        dict(profile_id=255, height=0xFFFF, width=0xFFFF, seed=0xFFFFFFFF, k=255, hci_scale=255, steps=255),
        {"hci": b"\x42", "spw": b""},
    ),
}


def _header(fields: dict[str, Any], payloads: dict[str, bytes]) -> bs.Header:
    return bs.Header(**fields, modalities=tuple(m for m in bs.MODALITIES if m in payloads))


def _bitstream_table() -> dict[str, Any]:
    cases = {}
    for name, (fields, payloads) in BITSTREAM_CASES.items():
        header = _header(fields, payloads)
        stream = bs.pack_bitstream(header, payloads)
        cases[name] = {
            "header": {**fields, "modalities": list(header.modalities), "flags": header.flags},
            "segments_hex": {m: payloads[m].hex() for m in header.modalities},
            "stream_hex": stream.hex(),
            "spans": {k: list(v) for k, v in bs.parse_bitstream(stream).spans.items()},
        }
    return {"version": bs.VERSION, "magic": bs.MAGIC.decode(), "profile_ids": bs.PROFILE_IDS, "cases": cases}


def test_bitstream_writer_gives_the_frozen_bytes():
    """pack_bitstream(fixed fields, fixed segments) is byte-identical to the frozen v1 streams."""
    check_golden("mtgc_bitstream_v1.json", _bitstream_table())


@pytest.mark.parametrize("case", sorted(BITSTREAM_CASES))
def test_bitstream_parser_reads_the_frozen_bytes(case):
    """The frozen bytes (not re-written ones) parse back to the fields and segments they were made from."""
    stored = load_golden("mtgc_bitstream_v1.json")["cases"]
    if case not in stored:
        _fail("mtgc_bitstream_v1.json", [f".cases.{case}: missing"])
    frozen = stored[case]
    fields, payloads = BITSTREAM_CASES[case]
    parsed = bs.parse_bitstream(bytes.fromhex(frozen["stream_hex"]))
    assert parsed.header == _header(fields, payloads)
    assert parsed.segments == payloads
    assert parsed.dropped == {} and parsed.trailing_bytes == 0
    assert {k: list(v) for k, v in parsed.spans.items()} == frozen["spans"]
    assert sum(parsed.sizes().values()) == len(frozen["stream_hex"]) // 2
    assert {m: bytes.fromhex(h) for m, h in frozen["segments_hex"].items()} == payloads


# ---------------------------------------------------------------------------------------------------------
# (b) the rate ladder and the bytes per rung
# ---------------------------------------------------------------------------------------------------------
JPEG_QUALITIES = (10, 50, 90)
BPG_QUALITIES = (30, 38, 46)


def _rung(r) -> dict[str, Any]:
    return {"hci_scale": r.hci_scale, "hci_q": r.hci_q, "k": r.k, "caption": r.caption}


def _stream(enc) -> dict[str, Any]:
    return {"bytes": len(enc.data), "sha256": sha256(enc.data)}


def test_rate_ladder_table_and_bytes_per_rung(mtgc, image):
    from mtgc_link.codecs import get_codec
    from mtgc_link.codecs.mtgc.ratecontrol import LADDER, ladder_for

    rungs = []
    for i, rung in enumerate(mtgc.ladder()):
        enc = mtgc.encode(image, quality=i)
        assert enc.info["rung"] == i and enc.info["caption"] == CAPTION
        rungs.append({"rung": i, **_rung(rung), **_stream(enc), "segments": enc.info["segments"]})
    default = mtgc.encode(image)
    # JPEG (libjpeg-turbo) and BPG (libx265, pinned: not bpgenc) were bit-identical across runs here.
    jpeg, bpg = get_codec("jpeg"), get_codec("bpg", backend="libx265")
    actual = {
        "image": {"shape": list(image.shape), "sha256": sha256(image.tobytes())},
        "codec": dict(CODEC_KW),
        "ladder": [_rung(r) for r in LADDER],
        "ladder_for": {str(n): [_rung(r) for r in ladder_for(n)] for n in (1, 4, 8, 16)},
        "tiny_max_spws": mtgc.models.config.max_spws,
        "default_rung": _rung(mtgc.default_rung()),
        "default": {**_stream(default), "segments": default.info["segments"]},
        "rungs": rungs,
        "jpeg": {str(q): _stream(jpeg.encode(image, quality=q)) for q in JPEG_QUALITIES},
        "bpg_libx265": {str(q): _stream(bpg.encode(image, quality=q)) for q in BPG_QUALITIES},
    }
    info = {"jpeg": jpeg.backend_version(), "bpg": bpg.backend_version(), "hci": "bpg libx265 4:2:0"}
    if not REGENERATE:  # say clearly when it is the *input* that moved
        stored = load_golden("mtgc_rate_ladder.json").get("image")
        if stored != _jsonable(actual["image"]):
            _fail(
                "mtgc_rate_ladder.json", _diff(stored, actual["image"], ".image"), "(the test image changed)"
            )
    check_golden("mtgc_rate_ladder.json", actual, info=info)


# ---------------------------------------------------------------------------------------------------------
# (c) the caption coder
# ---------------------------------------------------------------------------------------------------------
CAPTIONS = {
    "empty": "",
    "one_space": " ",
    "short": "a dog",
    "typical": "a red barn in a green field under a cloudy sky",
    "unicode": "naïve café ☃ 日本語 🚀",
    "long": (
        "a long wooden table covered with plates of bread, cheese, grapes and olives, two glasses of red "
        "wine, a candle in a brass holder, and behind it an open window with white curtains moving in the "
        "wind, a garden with tall sunflowers, a stone wall, and far away blue hills under an evening sky"
    ),
}


def test_caption_coder_bytes():
    from mtgc_link.codecs.mtgc import caption as cap

    assert len(CAPTIONS["long"].encode()) <= cap.MAX_CAPTION_BYTES
    actual = {
        "order": cap.ORDER,
        "corpus_sha256": sha256(cap.CORPUS.encode("utf-8")),  # the static model is counted on it
        "captions": {
            name: {"text": text, "hex": cap.encode_caption(text).hex()} for name, text in CAPTIONS.items()
        },
    }
    stored = check_golden("mtgc_caption_coder.json", actual)
    for name, entry in stored["captions"].items():  # the frozen bytes decode to the text
        assert cap.decode_caption(bytes.fromhex(entry["hex"])) == entry["text"] == CAPTIONS[name]


# ---------------------------------------------------------------------------------------------------------
# (d) a pixel slice of the tiny decoder (diffusers' expected_slice)
# ---------------------------------------------------------------------------------------------------------
# The decoder's output is uint8; the slice is stored on the [0, 1] scale. Tolerance: one uint8 level
# (1/255) per pixel, because float32 convolutions may differ in the last bits across CPUs / BLAS kernels
# and flip a value that sits on a rounding boundary by one level; 1e-3 on the mean (over 36864 values, a
# few one-level flips move it by ~1e-7). Anything larger is a real change of the decoder.
PIXEL_ATOL = 1 / 255 + 1e-6
MEAN_ATOL = 1e-3
NAME_SLICE = "mtgc_tiny_decoder_slice.json"


def test_tiny_decoder_expected_slice(mtgc, image):
    from mtgc_link.codecs import get_codec

    if REGENERATE:
        data = mtgc.encode(image).data  # the default rung's stream, as frozen in mtgc_rate_ladder.json
    else:
        data = bytes.fromhex(load_golden("mtgc_tiny_decoder_slice.json")["stream_hex"])
        if sha256(data) != load_golden("mtgc_rate_ladder.json")["default"]["sha256"]:
            _fail(NAME_SLICE, [".stream_hex: not the default stream frozen in mtgc_rate_ladder.json"])
    out = mtgc.decode(data)
    again = get_codec("mtgc", profile="tiny").decode(data)  # a fresh decoder: settings come from the bytes
    assert out.ok and again.ok, (out.reason, again.reason)
    # Decoding is a pure function of the bytes (the sweep's decode cache relies on it): exactly, here.
    np.testing.assert_array_equal(out.image, again.image)
    assert out.info["used"] == ["caption", "hci", "spw"] and out.info["caption"] == CAPTION
    x = out.image.astype(np.float64) / 255.0
    actual = {
        "stream_hex": data.hex(),
        "shape": list(out.image.shape),
        "corner_slice": np.round(x[:3, :3, :], 6).tolist(),  # [row][col][channel], top-left
        "centre_slice": np.round(x[47:50, 63:66, :], 6).tolist(),
        "mean": round(float(x.mean()), 6),
    }
    atol = {"corner_slice": PIXEL_ATOL, "centre_slice": PIXEL_ATOL, "mean": MEAN_ATOL}
    check_golden(NAME_SLICE, actual, atol=atol, info={"torch_threads": 1, "steps": CODEC_KW["steps"]})
