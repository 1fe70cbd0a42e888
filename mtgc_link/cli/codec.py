"""`mtgc-link encode | decode | rd`: the source codecs on their own (no channel).

Exit codes: 0 done; 2 bad arguments (one line on stderr, before any work: settings, qualities and the output
path are checked first); 3 the bytes cannot be decoded (one-line reason on stderr); 4 no codec setting fits
``--max-bits``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from mtgc_link.cli.app import app, bad, check_number, check_output_file, fail, number, parse_numbers

EXIT_BAD_ARGS, EXIT_UNDECODABLE, EXIT_NO_FIT = 2, 3, 4
# {codecs}: filled from the codec registry by app.RegistryHelpGroup when the command runs or shows help.
CodecOpt = typer.Option(..., "--codec", "-c", help="Codec name ({codecs}).")
SetOpt = typer.Option(None, "--set", help="Codec setting key=value, e.g. --set chroma=420 (repeatable).")
ProfileOpt = typer.Option(
    None, "--profile", help="MTGC models: compact (default, trained), tiny (random), reference or a folder."
)


def _json_safe(value: Any) -> Any:
    """Non-finite floats -> None (JSON has no Infinity or NaN; PSNR of an identical image is +inf).

    >>> _json_safe({"psnr": float("inf"), "x": [1.5, float("nan")]})
    {'psnr': None, 'x': [1.5, None]}
    """
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def parse_settings(items: list[str] | None, codec: str | None = None) -> dict[str, Any]:
    """``--set key=value`` options -> codec settings, typed as the codec declares them
    (``codecs.base.coerce_settings``: ``strict=false`` is False, ``caption=42`` the text "42"); without
    ``codec``, ints and floats are converted and the rest stays text."""
    raw: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(EXIT_BAD_ARGS, f"--set expects key=value, got {item!r}")
        raw[key.strip()] = value
    from mtgc_link.codecs.base import CODECS, _literal, coerce_settings

    if codec is None or codec not in CODECS:  # an unknown codec is refused by get_codec with the list
        return {k: _literal(v) for k, v in raw.items()}
    try:
        return coerce_settings(CODECS.get(codec), raw)
    except ValueError as exc:
        raise fail(EXIT_BAD_ARGS, f"--set: codec {codec!r}: {exc}") from None


def make_codec(name: str, settings: list[str] | None, profile: str | None = None):
    """The codec ``name`` with its ``--set`` settings (and ``--profile``), checked first by
    ``SourceCodec.check_settings`` (unknown keys, types, values; no models loaded): a bad one exits 2 naming
    ``--set <key>`` (or ``--profile``)."""
    from mtgc_link.codecs import CODECS, get_codec
    from mtgc_link.codecs.base import SettingError

    kwargs = parse_settings(settings, name)
    if profile is not None:
        kwargs["profile"] = profile
    if name in CODECS:  # an unknown name: get_codec's KeyError lists the known ones
        try:
            CODECS.get(name).check_settings(kwargs)
        except SettingError as exc:
            option = "--profile" if exc.key == "profile" and profile is not None else f"--set {exc.key}"
            raise bad(option, f"codec {name!r}: {exc.message}") from None
    try:
        return get_codec(name, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(EXIT_BAD_ARGS, f"codec {name!r}: {exc.args[0] if exc.args else exc}") from None


_make_codec = make_codec


def _check_quality(c, quality: float | None, option: str = "--quality") -> None:
    """Refuse a quality the codec's knob does not have, before any image is read (codecs with a
    ``check_quality``; MTGC's rungs need its models, so it checks them when encoding)."""
    if quality is not None and hasattr(c, "check_quality"):
        try:
            c.check_quality(quality)
        except ValueError as exc:
            raise bad(option, str(exc)) from None


def _pillow_suffixes() -> tuple[str, ...]:
    """File suffixes Pillow can write (decode's OUT picks the format by suffix)."""
    from PIL import Image

    Image.init()
    return tuple(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE)


def _read_image(path: Path):
    from mtgc_link.images import ImageError, load_image

    try:
        return load_image(path)  # a writable copy (torch-based metrics want one)
    except ImageError as exc:
        raise fail(EXIT_BAD_ARGS, f"IMAGE {exc.path}: {exc.reason}") from None


@app.command()
def encode(
    image: Path = typer.Argument(..., help="Input image (any format Pillow reads)."),
    out: Path = typer.Argument(..., help="Output bitstream (.bin)."),
    codec: str = CodecOpt,
    max_bits: int | None = typer.Option(
        None, "--max-bits", min=1, help="Rate budget in bits (rate control), >= 1."
    ),
    quality: float | None = typer.Option(
        None, "--quality", "-q", callback=number(), help="The codec's quality knob."
    ),
    settings: list[str] | None = SetOpt,
    profile: str | None = ProfileOpt,
) -> None:
    """Encode IMAGE into OUT (rate = 8 x its size); prints bytes, bpp, quality, ladder step, backend."""
    if max_bits is not None and quality is not None:
        raise fail(EXIT_BAD_ARGS, "give --max-bits or --quality, not both")
    from mtgc_link.codecs import RateControlError

    c = make_codec(codec, settings, profile)
    _check_quality(c, quality)
    check_output_file(out, "OUT")
    img = _read_image(image)
    try:
        enc = c.encode(img, max_bits=max_bits, quality=quality)
    except RateControlError as exc:
        raise fail(EXIT_NO_FIT, str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise fail(EXIT_BAD_ARGS, str(exc)) from None
    try:
        out.write_bytes(enc.data)
    except OSError as exc:
        raise fail(EXIT_BAD_ARGS, f"OUT {out}: cannot write ({exc.strerror})") from None
    info = enc.info
    typer.echo(
        f"{out}: {len(enc.data)} bytes, {8 * len(enc.data) / (img.shape[0] * img.shape[1]):.4f} bpp, "
        f"quality {info.get('quality')}, ladder step {info.get('ladder_step', 0)}, backend {c.backend}"
    )


@app.command()
def decode(
    data: Path = typer.Argument(..., help="Bitstream written by `mtgc-link encode`."),
    out: Path = typer.Argument(..., help="Output image (.png)."),
    codec: str = CodecOpt,
    settings: list[str] | None = SetOpt,
    profile: str | None = ProfileOpt,
) -> None:
    """Decode IN.bin to OUT.png. Exit 3 with a one-line reason when the bytes cannot be decoded."""
    from PIL import Image

    c = make_codec(codec, settings, profile)
    writable = "a suffix Pillow writes (.png, .jpg, .webp, .tif, ...)"
    check_output_file(out, "OUT", _pillow_suffixes(), writable)
    try:
        raw = data.read_bytes()
    except OSError as exc:
        raise fail(EXIT_BAD_ARGS, f"IN {data}: cannot read ({exc.strerror})") from None
    res = c.decode(raw)
    if not res.ok:
        raise fail(EXIT_UNDECODABLE, f"cannot decode {data}: {res.reason}")
    try:
        Image.fromarray(res.image).save(out)
    except (OSError, ValueError) as exc:  # unwritable path, or a suffix Pillow has no writer for
        raise fail(EXIT_BAD_ARGS, f"OUT {out}: cannot write ({exc})") from None
    h, w = res.image.shape[:2]
    typer.echo(f"{out}: {w}x{h}, backend {c.backend}")
    if res.info.get("used") is not None:  # MTGC: which guidance the decoder had
        typer.echo(guidance_summary(res.info))


def guidance_summary(info: dict[str, Any]) -> str:
    """One line: the modalities MTGC used, dropped (with why) and never sent, and the caption it read."""
    used = ", ".join(info.get("used") or []) or "none"
    dropped = "; ".join(f"{m} ({why})" for m, why in (info.get("dropped") or {}).items()) or "none"
    absent = ", ".join(info.get("absent") or []) or "none"
    caption = info.get("caption")
    return f"modalities used: {used}; dropped: {dropped}; not sent: {absent}; caption: {caption!r}" + (
        f"; K={info['k']}" if info.get("k") else ""
    )


def _metric(fn, ref, img) -> float | None:
    try:
        return float(fn(ref, img))
    except ValueError:  # e.g. MS-SSIM on an image under 161 px
        return None


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals and len(vals) == len(values) else None


@app.command()
def rd(
    codec: str = CodecOpt,
    images: Path = typer.Option(..., "--images", help="Folder of images (all .png/.jpg/... in it)."),
    quality: list[str] = typer.Option(
        ..., "--quality", "-q", help="Quality values: --quality 47 42 37, 47,42,37 or repeated."
    ),
    settings: list[str] | None = SetOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of a table."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Use only the first N images (sorted by name), N >= 1."
    ),
    profile: str | None = ProfileOpt,
) -> None:
    """Rate-distortion points: per image and mean bytes, bpp, PSNR (dB), MS-SSIM at each quality."""
    from mtgc_link.images import is_image_file
    from mtgc_link.metrics import ms_ssim, psnr

    qualities = [check_number(q, "--quality") for q in parse_numbers(quality, "--quality")]
    qualities = [int(q) if float(q).is_integer() else q for q in qualities]
    if not images.is_dir():
        raise fail(EXIT_BAD_ARGS, f"--images {images}: not a folder")
    paths = sorted(p for p in images.iterdir() if is_image_file(p))[:limit]
    if not paths:
        raise fail(EXIT_BAD_ARGS, f"--images {images}: no images found")
    c = make_codec(codec, settings, profile)
    for q in qualities:
        _check_quality(c, q)
    results = []
    for path in paths:
        img = _read_image(path)
        for q in qualities:
            try:
                enc = c.encode(img, quality=q)
            except (TypeError, ValueError) as exc:
                raise fail(EXIT_BAD_ARGS, str(exc)) from None
            dec = c.decode(enc.data)
            row = {
                "image": path.name,
                "quality": q,
                "bytes": len(enc.data),
                "bpp": 8 * len(enc.data) / (img.shape[0] * img.shape[1]),
                "psnr": _metric(psnr, img, dec.image) if dec.ok else None,
                "ms_ssim": _metric(ms_ssim, img, dec.image) if dec.ok else None,
                "decoded": dec.ok,
            }
            results.append(row)
            if not as_json:
                typer.echo(_fmt_row(row))
    mean = []
    for q in qualities:
        rows = [r for r in results if r["quality"] == q]
        mean.append(
            {
                "quality": q,
                "bytes": sum(r["bytes"] for r in rows) / len(rows),
                "bpp": sum(r["bpp"] for r in rows) / len(rows),
                "psnr": _mean([r["psnr"] for r in rows]),
                "ms_ssim": _mean([r["ms_ssim"] for r in rows]),
            }
        )
    if as_json:
        doc = {
            "codec": codec,
            "backend": c.backend,
            "settings": c.settings(),
            "results": results,
            "mean": mean,
        }
        json.dump(_json_safe(doc), sys.stdout, indent=1, allow_nan=False)  # strict JSON: no Infinity
        sys.stdout.write("\n")
        return
    typer.echo(f"mean over {len(paths)} images ({codec}, backend {c.backend}):")
    for m in mean:
        typer.echo(_fmt_row({"image": "mean", **m}))


def _fmt_row(r: dict[str, Any]) -> str:
    def f(v: float | None, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    return (
        f"{r['image']:<16} q={r['quality']:<6} bytes={f(r['bytes'], '.0f'):>8} bpp={f(r['bpp'], '.4f')} "
        f"psnr={f(r['psnr'], '.2f')} ms_ssim={f(r['ms_ssim'], '.4f')}"
    )
