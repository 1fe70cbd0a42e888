"""Run one task of a sweep (the points that share one encoding) in any process.

:func:`run_task` is what the executors ship to their workers: encode once, then per point transmit and
decode through :func:`mtgc_link.link.deliver` (the pipeline ``mtgc-link transmit`` uses too), with the
decode cache, score, and emit the row (:class:`mtgc_link.sweep.rows.Row`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mtgc_link.link import Budget, deliver, encode_for_budget, evaluate
from mtgc_link.sweep import reference, store
from mtgc_link.sweep.axes import AXES
from mtgc_link.sweep.cache import DecodeCache
from mtgc_link.sweep.config import ImagesConfig, SweepConfig, build_phy
from mtgc_link.sweep.grid import Point, Task
from mtgc_link.sweep.rows import SEGMENT_COLUMNS, Row
from mtgc_link.transport import Fit, Protection, segments_table


@dataclass
class SweepContext:
    """What every worker needs besides its task (small and picklable)."""

    config: SweepConfig
    out_dir: str
    config_hash: str
    mean_rgb: list[float]
    provenance: dict
    saved_images: list[str] = field(default_factory=list)  # images whose decoded versions are saved


# ------------------------------------------------------------------------------------ per-process state
@lru_cache(maxsize=4)
def images_of(spec: ImagesConfig) -> dict[str, np.ndarray]:
    from mtgc_link.demo_images import load_image_set

    return load_image_set(spec.source, spec.resize, spec.limit)


@lru_cache(maxsize=4)
def captions_of(spec: ImagesConfig) -> dict[str, str]:
    from mtgc_link.demo_images import load_captions

    return load_captions(spec.source, spec.captions)


@lru_cache(maxsize=16)
def _codec(name: str, settings_json: str):
    from mtgc_link.codecs import get_codec

    return get_codec(name, **json.loads(settings_json))


def codec_for(cfg: SweepConfig, index: int):
    c = cfg.codecs[index]
    return _codec(c.name, json.dumps(c.settings, sort_keys=True))


# ----------------------------------------------------------------------------------------------- a task
def run_task(ctx: SweepContext, task: Task, emit) -> int:
    """Run the points of ``task``: encode once, then per point transmit, decode (cached), metrics.

    emit(row) receives each finished row (a dict) as soon as it exists. Returns the number of rows emitted.
    """
    cfg = ctx.config
    image = images_of(cfg.images)[task.image]
    codec = codec_for(cfg, task.codec)
    caption = captions_of(cfg.images).get(task.image)
    src = encode_for_budget(
        codec, image, task.max_bits, caption=caption, fit=_fit_of(cfg, task, codec, image)
    )
    cache = DecodeCache(codec, Path(ctx.out_dir) / "cache" / "decoded") if cfg.decode_cache else None
    mean_rgb = np.asarray(ctx.mean_rgb)
    segments = (src.encoded.info.get("segments") if src.encoded is not None else None) or {}
    metric_memo: dict = {}  # the same received image (error-free trials, fallback images) is scored once
    refs: dict = {}
    if cfg.references:  # before the points: the error-free decode goes through the cache too
        sent = src.encoded.data if src.encoded is not None else None
        decode = cache.decode if cache is not None else None
        refs.update(
            reference.error_free(
                codec, sent, image, cfg.metrics, decode, policy=cfg.failure_policy, mean_rgb=mean_rgb
            )
        )
        refs.update(reference.failure_floor(image, cfg.failure_policy, mean_rgb, cfg.metrics))
    for p in task.points:
        row = run_point(ctx, p, image, codec, src, cache, mean_rgb, segments, metric_memo)
        row.update(refs)
        emit(row)
    return len(task.points)


def _capacity_reference(cfg: SweepConfig, p: Point, image, mean_rgb, uses: int, model: str, rx) -> dict:
    """'BPG + capacity' for this row: BPG given the Shannon bits of the budget at the point's SNR (AWGN:
    uses x log2(1 + SNR); fading: this realisation's capacity per data RE x uses, outage-style), decoded
    error-free. NaN under fading when nothing was sent (no realisation was drawn)."""
    if model == "awgn":
        bits = reference.capacity_bits_for(uses, p.snr_db)
    else:
        cap = float(getattr(rx, "capacity_bits", 0.0) or 0.0) if rx is not None else 0.0
        data_res = int(getattr(rx, "data_res_first", 0) or 0) if rx is not None else 0
        bits = reference.capacity_bits_for(uses, p.snr_db, cap, data_res) if data_res else float("nan")
    return reference.capacity_bound(image, bits, cfg.metrics, policy=cfg.failure_policy, mean_rgb=mean_rgb)


def protection_of(cfg: SweepConfig, p: Point) -> Protection:
    return Protection(p.coords.get("protection", "equal"), cfg.uep_mcs.to_uep())


def _fit_of(cfg: SweepConfig, task: Task, codec, image) -> Fit | None:
    """The transport's fit test of the task's encoding: None under ``equal`` (the payload bits decide);
    otherwise the protected stream must fit the budget at the MCS (the grid keys such tasks by protection,
    budget and MCS, so every point of the task shares them)."""
    p = task.points[0]
    prot = protection_of(cfg, p)
    if prot.name == "equal":
        return None
    budget = cfg.budgets[p.budget].to_budget()
    phy = budget.phy_config(build_phy(cfg.phy, cfg.channels[p.channel], p.mcs_index))
    return Fit(codec, prot, phy, budget.channel_uses(image.shape[0], image.shape[1], phy))


def _segment_columns(codec, outcomes) -> dict:
    """``segments_rx`` and the flat ``seg_<kind>`` / ``seg_<kind>_uses`` columns of a row."""
    table = segments_table(codec, outcomes)
    out: dict = {"segments_rx": json.dumps(table)}
    for kind in SEGMENT_COLUMNS:
        got = table.get(kind)
        out[f"seg_{kind}"] = got["status"] if got is not None else ""
        out[f"seg_{kind}_uses"] = float(got["uses"]) if got is not None else None
    return out


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


def run_point(ctx, p: Point, image, codec, src, cache, mean_rgb, segments, metric_memo) -> dict:
    """One row: transmit ``src`` (the task's encoding) at point ``p``, decode, score."""
    cfg = ctx.config
    h, w = image.shape[:2]
    budget: Budget = cfg.budgets[p.budget].to_budget()
    phy = budget.phy_config(build_phy(cfg.phy, cfg.channels[p.channel], p.mcs_index))
    qm, rate = phy.qm_and_rate
    d = deliver(
        codec,
        src,
        phy,
        p.snr_db,
        p.seed,
        image.shape,
        cfg.failure_policy,
        mean_rgb,
        cfg.crc_error,
        decode=cache.decode if cache is not None else None,
        protection=protection_of(cfg, p),
        harq_max_tx=int(p.coords.get("harq_max_tx", 1)),
    )
    rx, received = d.reception, d.received
    hit = bool(rx is not None and cache is not None and cache.last_hit and received.decoded is not None)
    t0 = time.perf_counter()
    values, reasons = _scored(image, received.image, list(cfg.metrics), metric_memo)
    t_met = time.perf_counter() - t0
    codec_cfg, ch = cfg.codecs[p.codec], cfg.channels[p.channel]
    uses = budget.channel_uses(h, w, phy)
    spent = int(rx.channel_uses) if rx is not None else 0
    row = Row(
        point=p.index,
        key=p.key,
        codec=codec_cfg.display,
        codec_name=codec_cfg.name,
        codec_settings=json.dumps(codec.settings(), sort_keys=True, default=str),
        codec_backend=codec.backend,
        channel=ch.display,
        channel_model=phy.channel.model,
        channel_profile=phy.channel.profile,
        delay_spread_ns=phy.channel.delay_spread_ns,
        speed_mps=phy.channel.speed_mps,
        carrier_hz=phy.channel.carrier_hz,
        snr_db=p.snr_db,
        budget=budget.label,
        budget_kind=budget.kind,
        budget_uses=uses,
        cbr_budget=uses / (3 * h * w),
        mcs_policy=cfg.mcs.label,
        mcs_index=p.mcs_index,
        mcs_table=phy.mcs_table,
        modulation_order=qm,
        code_rate=rate,
        num_prbs=phy.num_prbs,
        subcarrier_spacing_khz=phy.subcarrier_spacing_khz,
        csi=phy.csi,
        ldpc_iterations=phy.ldpc_iterations,
        image=p.image,
        height=h,
        width=w,
        trial=p.trial,
        seed=p.seed,
        protection=protection_of(cfg, p).name,
        harq_max_tx=int(p.coords.get("harq_max_tx", 1)),
        payload_bits=src.max_bits,
        bits_sent=src.bits,
        bpp=src.bits / (h * w),
        segment_bits=_segment_bits(segments),
        codec_trained=_trained(src),
        channel_uses=spent,
        channel_uses_first=int(rx.channel_uses_first) if rx is not None else 0,
        cbr=spent / (3 * h * w),
        slots=int(rx.slots) if rx is not None else 0,
        bits=int(rx.bits) if rx is not None else 0,
        bit_errors=int(rx.bit_errors) if rx is not None else 0,
        ber=float(rx.ber) if rx is not None else float("nan"),
        blocks=int(rx.blocks) if rx is not None else 0,
        block_errors=int(rx.block_errors) if rx is not None else 0,
        bler=float(rx.bler) if rx is not None else float("nan"),
        transmissions=int(rx.transmissions) if rx is not None else 0,
        mean_transmissions=float(rx.mean_transmissions) if rx is not None else float("nan"),
        received_identical=(rx.payload == src.encoded.data) if rx is not None else None,
        rx_payload_sha=hashlib.sha256(rx.payload).hexdigest()[:16] if rx is not None else "",
        decode_status=received.status,
        decode_ok=received.status == "ok",
        decode_reason=received.reason or "",
        failure_policy=cfg.failure_policy,
        policy_applied=received.policy_applied,
        crc_error=cfg.crc_error,
        decode_cache_hit=hit,
        **_segment_columns(codec, d.segments),
    )
    out = asdict(row)
    for name in cfg.metrics:
        out[name] = values[name]
        out[f"{name}_reason"] = reasons.get(name, "")
    out.update(
        t_encode_s=src.seconds,
        t_transmit_s=d.times.get("transmit_s", 0.0),
        t_decode_s=d.times.get("decode_s", 0.0),
        t_metrics_s=t_met,
    )
    out.update(ctx.provenance)
    # The saved picture's path is stored in the row (relative to the sweep folder), so the image grid finds
    # it whatever label the figures later give the codec (e.g. "(untrained)").
    out["image_file"] = ""
    if p.trial == 0 and p.image in ctx.saved_images and received.image is not None:
        snrs = cfg.save_images.snr_db
        if snrs is None or any(abs(s - p.snr_db) < 1e-9 for s in snrs):
            path = store.decoded_image_path(
                ctx.out_dir, codec_cfg.display, ch.display, budget.label, p.image, p.snr_db
            )
            store.save_png(path, received.image)
            out["image_file"] = path.relative_to(ctx.out_dir).as_posix()
    for a in AXES:  # an axis that is not a Row field still gets its column
        out.setdefault(a.column, a.cell(cfg, p.coords[a.name]))
    if cfg.references:
        out.update(_capacity_reference(cfg, p, image, mean_rgb, uses, phy.channel.model, rx))
    return out
