"""Run a sweep: config -> grid -> executor -> row shards -> results table -> plots.

``run_sweep`` is the entry point (``mtgc-link sweep`` calls it). ``run_task`` runs one task (the points that
share one encoding) in any process; it is what the executors ship to their workers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from mtgc_link.link import (
    Budget,
    encode_for_budget,
    evaluate,
    get_link,
    mean_colour,
    receive,
    resolve_received,
)
from mtgc_link.sweep import store
from mtgc_link.sweep.cache import DecodeCache
from mtgc_link.sweep.config import ImagesConfig, SweepConfig, build_phy
from mtgc_link.sweep.grid import Point, Task, expand


@dataclass
class SweepContext:
    """What every worker needs besides its task (small and picklable)."""

    config: SweepConfig
    out_dir: str
    config_hash: str
    mean_rgb: list[float]
    provenance: dict
    saved_images: list[str] = field(default_factory=list)  # images whose decoded versions are saved


@dataclass
class SweepResult:
    out_dir: Path
    table: object  # pandas.DataFrame
    points: int
    skipped: int
    ran: int
    seconds: float
    figures: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------ per-process state
@lru_cache(maxsize=4)
def _images(spec: ImagesConfig) -> dict[str, np.ndarray]:
    from mtgc_link.demo_images import load_image_set

    return load_image_set(spec.source, spec.resize, spec.limit)


@lru_cache(maxsize=4)
def _captions(spec: ImagesConfig) -> dict[str, str]:
    from mtgc_link.demo_images import load_captions

    return load_captions(spec.source, spec.captions)


@lru_cache(maxsize=16)
def _codec(name: str, settings_json: str):
    from mtgc_link.codecs import get_codec

    return get_codec(name, **json.loads(settings_json))


def codec_for(cfg: SweepConfig, index: int):
    c = cfg.codecs[index]
    return _codec(c.name, json.dumps(c.settings, sort_keys=True))


def safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in text)


def decoded_image_path(
    out_dir: str | Path, codec: str, channel: str, budget: str, image: str, snr: float
) -> Path:
    """Where the image grid finds the decoded image of (codec, channel, budget, image, SNR), trial 0."""
    return (
        Path(out_dir)
        / "images"
        / safe_name(codec)
        / safe_name(channel)
        / safe_name(budget)
        / f"{safe_name(image)}_snr{snr:g}.png"
    )


def original_image_path(out_dir: str | Path, image: str) -> Path:
    return Path(out_dir) / "images" / "original" / f"{safe_name(image)}.png"


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{id(image)}")
    Image.fromarray(image).save(tmp, format="PNG")
    tmp.replace(path)


# ----------------------------------------------------------------------------------------------- a task
def run_task(ctx: SweepContext, task: Task, emit) -> int:
    """Run the points of ``task``: encode once, then per point transmit, decode (cached), metrics.

    emit(row) receives each finished row as soon as it exists. Returns the number of rows emitted.
    """
    cfg = ctx.config
    image = _images(cfg.images)[task.image]
    codec = codec_for(cfg, task.codec)
    src = encode_for_budget(codec, image, task.max_bits, caption=_captions(cfg.images).get(task.image))
    cache = DecodeCache(codec, Path(ctx.out_dir) / "cache" / "decoded") if cfg.decode_cache else None
    mean_rgb = np.asarray(ctx.mean_rgb)
    segments = (src.encoded.info.get("segments") if src.encoded is not None else None) or {}
    metric_memo: dict = {}  # the same received image (error-free trials, fallback images) is scored once
    for p in task.points:
        emit(_run_point(ctx, p, image, codec, src, cache, mean_rgb, segments, metric_memo))
    return len(task.points)


def _segment_bits(segments: dict) -> str:
    """JSON {segment: bits}; codecs report a segment as its bytes or its size in bytes."""
    if not segments:
        return ""
    bits = {k: 8 * (len(v) if isinstance(v, (bytes, bytearray)) else int(v)) for k, v in segments.items()}
    return json.dumps(bits)


def _trained(src) -> str:
    """ "yes"/"no" for codecs that say whether their weights are trained (MTGC), "" for the others."""
    flag = src.encoded.info.get("trained") if src.encoded is not None else None
    return "" if flag is None else ("yes" if flag else "no")


def _scored(reference, image, metrics, memo) -> tuple[dict, dict]:
    key = None if image is None else hashlib.sha256(image.tobytes()).hexdigest() + str(image.shape)
    if key not in memo:
        memo[key] = evaluate(reference, image, metrics)
    return memo[key]


def _run_point(ctx, p: Point, image, codec, src, cache, mean_rgb, segments, metric_memo) -> dict:
    cfg = ctx.config
    h, w = image.shape[:2]
    budget: Budget = cfg.budgets[p.budget].to_budget()
    phy = budget.phy_config(build_phy(cfg.phy, cfg.channels[p.channel], p.mcs_index))
    qm, rate = phy.qm_and_rate
    rx, t_tx, t_dec, hit, identical = None, 0.0, 0.0, False, None
    if src.status == "no_fit":
        received = resolve_received(None, "no_fit", image.shape, cfg.failure_policy, mean_rgb, src.reason)
    else:
        t0 = time.perf_counter()
        try:
            rx = get_link(phy).transmit(src.encoded.data, p.snr_db, p.seed)
        except ValueError as exc:  # a PHY setting that cannot run (e.g. code rate < 1/5): stop the sweep
            raise ValueError(
                f"MCS {p.mcs_index} (table {phy.mcs_table}) on {phy.channel.model}: {exc}"
            ) from exc
        t_tx = time.perf_counter() - t0
        identical = rx.payload == src.encoded.data
        t0 = time.perf_counter()
        received = receive(
            codec,
            rx.payload,
            bool(np.all(rx.tb_crc_ok)),
            image.shape,
            cfg.failure_policy,
            mean_rgb,
            cfg.crc_error,
            decode=cache.decode if cache is not None else None,
        )
        t_dec = time.perf_counter() - t0
        hit = bool(cache is not None and cache.last_hit and received.decoded is not None)
    t0 = time.perf_counter()
    values, reasons = _scored(image, received.image, list(cfg.metrics), metric_memo)
    t_met = time.perf_counter() - t0
    codec_cfg, ch = cfg.codecs[p.codec], cfg.channels[p.channel]
    row = {
        "point": p.index,
        "key": p.key,
        "codec": codec_cfg.display,
        "codec_name": codec_cfg.name,
        "codec_settings": json.dumps(codec.settings(), sort_keys=True, default=str),
        "codec_backend": codec.backend,
        "channel": ch.display,
        "channel_model": phy.channel.model,
        "channel_profile": phy.channel.profile,
        "delay_spread_ns": phy.channel.delay_spread_ns,
        "speed_mps": phy.channel.speed_mps,
        "carrier_hz": phy.channel.carrier_hz,
        "snr_db": p.snr_db,
        "budget": budget.label,
        "budget_kind": budget.kind,
        "budget_uses": budget.channel_uses(h, w, phy),
        "cbr_budget": budget.channel_uses(h, w, phy) / (3 * h * w),
        "mcs_policy": cfg.mcs.label,
        "mcs_index": p.mcs_index,
        "mcs_table": phy.mcs_table,
        "modulation_order": qm,
        "code_rate": rate,
        "num_prbs": phy.num_prbs,
        "subcarrier_spacing_khz": phy.subcarrier_spacing_khz,
        "csi": phy.csi,
        "ldpc_iterations": phy.ldpc_iterations,
        "image": p.image,
        "height": h,
        "width": w,
        "trial": p.trial,
        "seed": p.seed,
        "payload_bits": src.max_bits,
        "bits_sent": src.bits,
        "bpp": src.bits / (h * w),
        "segment_bits": _segment_bits(segments),
        "codec_trained": _trained(src),
        "channel_uses": int(rx.channel_uses) if rx is not None else 0,
        "cbr": (int(rx.channel_uses) if rx is not None else 0) / (3 * h * w),
        "slots": int(rx.slots) if rx is not None else 0,
        "bits": int(rx.bits) if rx is not None else 0,
        "bit_errors": int(rx.bit_errors) if rx is not None else 0,
        "ber": float(rx.ber) if rx is not None else float("nan"),
        "blocks": int(rx.blocks) if rx is not None else 0,
        "block_errors": int(rx.block_errors) if rx is not None else 0,
        "bler": float(rx.bler) if rx is not None else float("nan"),
        "received_identical": identical,
        "rx_payload_sha": hashlib.sha256(rx.payload).hexdigest()[:16] if rx is not None else "",
        "decode_status": received.status,
        "decode_ok": received.status == "ok",
        "decode_reason": received.reason or "",
        "failure_policy": cfg.failure_policy,
        "policy_applied": received.policy_applied,
        "crc_error": cfg.crc_error,
        "decode_cache_hit": hit,
    }
    for name in cfg.metrics:
        row[name] = values[name]
        row[f"{name}_reason"] = reasons.get(name, "")
    row.update({"t_encode_s": src.seconds, "t_transmit_s": t_tx, "t_decode_s": t_dec, "t_metrics_s": t_met})
    row.update(ctx.provenance)
    # The saved picture's path is stored in the row (relative to the sweep folder), so the image grid finds
    # it whatever label the figures later give the codec (e.g. "(untrained)").
    row["image_file"] = ""
    if p.trial == 0 and p.image in ctx.saved_images and received.image is not None:
        snrs = cfg.save_images.snr_db
        if snrs is None or any(abs(s - p.snr_db) < 1e-9 for s in snrs):
            path = decoded_image_path(
                ctx.out_dir, codec_cfg.display, ch.display, budget.label, p.image, p.snr_db
            )
            _save_png(path, received.image)
            row["image_file"] = path.relative_to(ctx.out_dir).as_posix()
    return row


# ----------------------------------------------------------------------------------------------- driver
def _mcs_policy(cfg: SweepConfig, cache_dir):
    if cfg.mcs.fixed is not None:
        return lambda ch, snr: cfg.mcs.fixed
    from mtgc_link.sweep.mcs_policy import select_mcs, threshold_table

    tables = [threshold_table(cfg.phy, ch, cfg.mcs.adaptive, cache_dir) for ch in cfg.channels]
    return lambda ch, snr: select_mcs(tables[ch], snr)


def _payload_bits_fn(cfg: SweepConfig):
    from channels import ChannelConfig, PhyConfig

    @cache
    def base(mcs: int):
        return PhyConfig(channel=ChannelConfig(), mcs_index=mcs, **cfg.phy.model_dump())

    def bits(bi: int, mcs: int, h: int, w: int) -> int:  # payload bits do not depend on the channel
        return cfg.budgets[bi].to_budget().payload_bits(h, w, base(mcs))

    return bits


def prepare(
    cfg: SweepConfig, out_dir: str | Path, mcs_cache_dir=None
) -> tuple[SweepContext, list[Point], list[Task]]:
    """Load the images, resolve the MCS policy, expand the grid and build the worker context."""
    from mtgc_link import __version__
    from mtgc_link.provenance import git_commit, versions

    images = _images(cfg.images)
    _captions(cfg.images)  # a bad captions file fails here, before any row
    mcs_for = _mcs_policy(cfg, mcs_cache_dir)
    points, tasks = expand(cfg, {n: im.shape for n, im in images.items()}, mcs_for, _payload_bits_fn(cfg))
    prov = {
        "config_hash": cfg.config_hash(),
        "git_commit": git_commit(),
        "mtgc_link_version": __version__,
        "versions": json.dumps(versions(), sort_keys=True),
    }
    ctx = SweepContext(
        cfg,
        str(out_dir),
        cfg.config_hash(),
        mean_colour(images.values()).tolist(),
        prov,
        sorted(images)[: cfg.save_images.max_images],
    )
    return ctx, points, tasks


def run_sweep(
    cfg: SweepConfig,
    out_dir: str | Path,
    executor: str = "local",
    workers: int = 1,
    overwrite: bool = False,
    plots: bool = True,
    progress: bool = True,
    mcs_cache_dir: str | Path | None = None,
) -> SweepResult:
    """Run (or resume) the sweep ``cfg`` into ``out_dir``; rows already there are skipped.

    Writes rows/ (crash-safe shards), results.parquet, results.csv and, with ``plots``, figures/.
    """
    import yaml
    from tqdm import tqdm

    from mtgc_link.sweep.executors import get_executor

    t_start = time.perf_counter()
    out = Path(out_dir)
    if overwrite:
        for sub in ("rows", "images", "cache", "figures"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for f in ("manifest.json", "results.parquet", "results.csv", "config.yaml"):
            (out / f).unlink(missing_ok=True)
    ctx, points, tasks = prepare(cfg, out, mcs_cache_dir)
    store.write_manifest(
        out, ctx.config_hash, cfg.name, {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **ctx.provenance}
    )
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    for name in ctx.saved_images:
        path = original_image_path(out, name)
        if not path.is_file():
            _save_png(path, _images(cfg.images)[name])
    done = store.done_keys(out)
    todo = []
    for t in tasks:
        left = [p for p in t.points if p.key not in done]
        if left:
            todo.append(Task(t.image, t.codec, t.max_bits, left))
    n_todo = sum(len(t.points) for t in todo)
    bar = tqdm(
        total=len(points),
        initial=len(points) - n_todo,
        desc=f"sweep {cfg.name}",
        unit="row",
        disable=not progress,
        file=sys.stderr,
    )
    try:
        get_executor(executor, workers).run(ctx, todo, bar.update)
    finally:
        bar.close()
    table = store.compact(out)
    figures = []
    if plots:
        from mtgc_link.plots import plot_results

        figures = plot_results(out)
    return SweepResult(
        out, table, len(points), len(points) - n_todo, n_todo, time.perf_counter() - t_start, figures
    )
