"""Run one task of a sweep (the points that share one encoding) in any process.

:func:`run_task` is what the executors ship to their workers: encode once, then per point transmit and
decode through :func:`mtgc_link.link.deliver` (the pipeline ``mtgc-link transmit`` uses too), with the
decode cache, score, and emit the row (:class:`mtgc_link.sweep.rows.Row`).

A sweep never dies on one point: where the codec raises while encoding (including a shape it refuses), the
decoder raises, or the transmission raises, the point still gets its row, with ``decode_status``
``encode_error`` / ``decode_error`` / ``link_error`` (:data:`mtgc_link.sweep.rows.ERROR_STATUSES`), a one-line
``decode_reason`` naming the step (no memory addresses), and null metrics; a metric that raises is null with
its reason in ``<metric>_reason``; a reference column that cannot be computed is null with its status.

The columns (:mod:`mtgc_link.sweep.rows`): snake_case names (a metric's column is
:func:`~mtgc_link.sweep.rows.metric_column` of its registered name), null (None) where there is nothing to
say, never ""; a metric that cannot run here has the short reason ``unavailable`` (the long one is stored
once, in the folder's manifest: ``store.write_manifest``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mtgc_link.codecs.base import Decoded
from mtgc_link.codecs.sandbox import _one_line
from mtgc_link.link import Budget, Received, deliver, encode_for_budget, evaluate, rate_choice
from mtgc_link.sweep import reference, store
from mtgc_link.sweep.axes import AXES
from mtgc_link.sweep.cache import DecodeCache
from mtgc_link.sweep.config import ImagesConfig, SweepConfig, build_phy
from mtgc_link.sweep.grid import Point, Task
from mtgc_link.sweep.rows import (
    ERROR_STATUSES,
    METRIC_UNAVAILABLE,
    SEGMENT_COLUMNS,
    Row,
    metric_column,
    metrics_unavailable,
)
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
class GuardedDecode:
    """``decode`` (the codec's, or the decode cache's) that turns an exception into a failure and remembers
    it in ``error`` (one line), so that the row says ``decode_error`` instead of the sweep dying. Decoders
    must never raise on bad bytes (they return ``Decoded(ok=False)``): one that does has a bug."""

    def __init__(self, decode) -> None:
        self._decode = decode
        self.error: str | None = None

    def __call__(self, data: bytes) -> Decoded:
        try:
            return self._decode(data)
        except Exception as exc:  # any decoder bug: a typed row, never a dead sweep
            self.error = _one_line(exc)
            return Decoded.failure(f"decode: {self.error}")


def run_task(ctx: SweepContext, task: Task, emit) -> int:
    """Run the points of ``task``: encode once, then per point transmit, decode (cached), metrics.

    emit(row) receives each finished row (a dict) as soon as it exists. Returns the number of rows emitted.
    An exception of the codec (encoding), the decoder or the link becomes rows with an error status
    (module docstring). What still raises (the image set failing to load in a worker, a folder that cannot
    take the rows) stops the sweep; the runner then writes the table of the rows that finished.
    """
    cfg = ctx.config
    image = images_of(cfg.images)[task.image]
    caption = captions_of(cfg.images).get(task.image)
    mean_rgb = np.asarray(ctx.mean_rgb)
    codec = None
    try:
        codec = codec_for(cfg, task.codec)
        src = encode_for_budget(
            codec, image, task.max_bits, caption=caption, fit=_fit_of(cfg, task, codec, image)
        )
    except Exception as exc:  # the codec cannot encode this image at this budget: typed rows, go on
        reason = f"encode ({cfg.codecs[task.codec].name}): {_one_line(exc)}"
        refs = _references(ctx, None, None, image, mean_rgb, "encode_error") if cfg.references else {}
        for p in task.points:
            row = error_row(ctx, p, image, codec, None, "encode_error", reason, task.max_bits)
            row.update(refs)
            emit(row)
        return len(task.points)
    cache = DecodeCache(codec, Path(ctx.out_dir) / "cache" / "decoded") if cfg.decode_cache else None
    decode = GuardedDecode(cache.decode if cache is not None else codec.decode)
    segments = (src.encoded.info.get("segments") if src.encoded is not None else None) or {}
    metric_memo: dict = {}  # the same received image (error-free trials, fallback images) is scored once
    # before the points: the error-free decode goes through the cache too
    refs = _references(ctx, codec, src, image, mean_rgb, None, decode) if cfg.references else {}
    for p in task.points:
        row = run_point(ctx, p, image, codec, src, cache, mean_rgb, segments, metric_memo, decode)
        row.update(refs)
        emit(row)
    return len(task.points)


def _nulls(columns) -> dict:
    return dict.fromkeys(columns)


def _references(ctx, codec, src, image, mean_rgb, error: str | None, decode=None) -> dict:
    """The task's error-free and failure-floor reference columns (the capacity bound is per row). error:
    the task's error status (nothing was encoded): the error-free columns are null with that status."""
    cfg = ctx.config
    metrics = list(cfg.metrics)
    ef_cols = [reference.ERROR_FREE + metric_column(m) for m in metrics]
    if error is not None:
        out = {**_nulls(ef_cols), "ref_error_free_status": error}
    else:
        sent = src.encoded.data if src.encoded is not None else None
        decode.error = None
        try:
            out = reference.error_free(
                codec, sent, image, metrics, decode, policy=cfg.failure_policy, mean_rgb=mean_rgb
            )
        except Exception:  # a metric raised on the error-free picture
            out = {**_nulls(ef_cols), "ref_error_free_status": "metric_error"}
        if decode.error is not None:
            out = {**_nulls(ef_cols), "ref_error_free_status": "decode_error"}
    try:
        out.update(reference.failure_floor(image, cfg.failure_policy, mean_rgb, metrics))
    except Exception:  # a reference is not the row
        out.update(_nulls(reference.FLOOR + metric_column(m) for m in metrics))
    return out


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


def phy_mode_of(p: Point) -> str:
    return p.coords.get("phy_mode", "bit_true")


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
    phy = budget.phy_config(build_phy(cfg.phy, cfg.channels[p.channel], p.mcs_index, phy_mode_of(p)))
    return Fit(codec, prot, phy, budget.channel_uses(image.shape[0], image.shape[1], phy))


def _segment_columns(codec, outcomes) -> dict:
    """``segments_rx`` and the flat ``seg_<kind>`` / ``seg_<kind>_uses`` columns of a row."""
    table = segments_table(codec, outcomes)
    out: dict = {"segments_rx": json.dumps(table)}
    for kind in SEGMENT_COLUMNS:
        got = table.get(kind)
        out[f"seg_{kind}"] = got["status"] if got is not None else None
        out[f"seg_{kind}_uses"] = float(got["uses"]) if got is not None else None
    return out


def _segment_bits(segments: dict) -> str | None:
    """JSON {segment: bits}, None without segments; codecs report a segment as its bytes or its size in
    bytes."""
    if not segments:
        return None
    bits = {k: 8 * (len(v) if isinstance(v, (bytes, bytearray)) else int(v)) for k, v in segments.items()}
    return json.dumps(bits)


def _trained(src) -> str | None:
    """ "yes"/"no" for codecs that say whether their weights are trained (MTGC), None for the others."""
    flag = src.encoded.info.get("trained") if src.encoded is not None else None
    return None if flag is None else ("yes" if flag else "no")


def _scored(reference, image, metrics, memo) -> tuple[dict, dict]:
    """(values, reasons) of ``image``, memoised; a metric that raises is null with ``metric_error: ...`` as
    its reason, and the others are still computed; one that cannot run here has the reason ``unavailable``
    (the long reason is in the manifest)."""
    key = None if image is None else hashlib.sha256(image.tobytes()).hexdigest() + str(image.shape)
    if key not in memo:
        try:
            values, reasons = evaluate(reference, image, metrics)
        except Exception:  # find the metric that raised; keep the others
            values, reasons = {}, {}
            for m in metrics:
                try:
                    v, r = evaluate(reference, image, [m])
                except Exception as exc:  # this metric raised
                    v, r = {m: None}, {m: f"metric_error: {_one_line(exc)}"}
                values.update(v)
                reasons.update(r)
        if image is not None and reasons:  # a metric that cannot run here: the short status
            gone = metrics_unavailable(list(reasons))
            reasons = {m: METRIC_UNAVAILABLE if m in gone else r for m, r in reasons.items()}
        memo[key] = (values, reasons)
    return memo[key]


def _point_phy(cfg: SweepConfig, p: Point):
    budget: Budget = cfg.budgets[p.budget].to_budget()
    return budget, budget.phy_config(build_phy(cfg.phy, cfg.channels[p.channel], p.mcs_index, phy_mode_of(p)))


def _ebno(phy, snr_db: float) -> float | None:
    """The link's Eb/N0 at ``snr_db`` on ``phy`` (None where its slot geometry cannot be computed)."""
    from channels.mcs import link_ebno_from_snr

    try:
        return float(link_ebno_from_snr(phy, snr_db))
    except ValueError:
        return None


def _row(ctx, p: Point, image, codec, src, phy, d, received, hit: bool, max_bits: int) -> Row:
    """The fixed columns of one row. codec, src, phy, d (the delivery) may be None where the point did not
    get that far (an error row); their columns are then null, or zero as for nothing sent.
    max_bits: the payload bits the point's budget carries (the task's)."""
    cfg = ctx.config
    h, w = image.shape[:2]
    budget: Budget = cfg.budgets[p.budget].to_budget()
    qm, rate = phy.qm_and_rate if phy is not None else (None, None)
    shared = phy if phy is not None else cfg.phy  # the point's PHY, else the config's (an error row)
    codec_cfg, ch = cfg.codecs[p.codec], cfg.channels[p.channel]
    uses = budget.channel_uses(h, w, phy) if phy is not None or budget.kind != "prbs_slots" else 0
    if codec is not None:
        settings = json.dumps(codec.settings(), sort_keys=True, default=str)
        backend = codec.backend
    else:
        settings, backend = json.dumps(codec_cfg.settings, sort_keys=True, default=str), None
    rx = d.reception if d is not None else None
    spent = int(rx.channel_uses) if rx is not None else 0
    sent = src is not None and src.encoded is not None
    segments = (src.encoded.info.get("segments") if sent else None) or {}
    if codec is not None and d is not None:
        seg_cols = _segment_columns(codec, d.segments)
    else:
        seg_cols = {"segments_rx": None}
        for kind in SEGMENT_COLUMNS:
            seg_cols.update({f"seg_{kind}": None, f"seg_{kind}_uses": None})
    stream_bits = src.bits if src is not None else 0
    return Row(
        point=p.index,
        key=p.key,
        codec=codec_cfg.display,
        codec_name=codec_cfg.name,
        codec_settings=settings,
        codec_backend=backend,
        channel=ch.display,
        channel_model=phy.channel.model if phy is not None else ch.model,
        channel_profile=phy.channel.profile if phy is not None else ch.profile,
        delay_spread_ns=phy.channel.delay_spread_ns if phy is not None else ch.delay_spread_ns,
        speed_mps=phy.channel.speed_mps if phy is not None else ch.speed_mps,
        carrier_hz=phy.channel.carrier_hz if phy is not None else ch.carrier_hz,
        snr_db=p.snr_db,
        ebno_db=_ebno(phy, p.snr_db) if phy is not None else None,
        budget=budget.label,
        budget_kind=budget.kind,
        budget_uses=uses,
        budget_cbr=uses / (3 * h * w),
        mcs_policy=cfg.mcs.label,
        mcs_index=p.mcs_index,
        mcs_table=shared.mcs_table,
        modulation_order=qm,
        code_rate=rate,
        num_prbs=shared.num_prbs,
        subcarrier_spacing_khz=shared.subcarrier_spacing_khz,
        csi=shared.csi,
        ldpc_iterations=shared.ldpc_iterations,
        image=p.image,
        height=h,
        width=w,
        trial=p.trial,
        seed=p.seed,
        protection=protection_of(cfg, p).name,
        harq_max_tx=int(p.coords.get("harq_max_tx", 1)),
        phy_mode=phy_mode_of(p),
        budget_bits=int(max_bits),
        stream_bits=stream_bits,
        bpp=stream_bits / (h * w),
        segment_bits=_segment_bits(segments),
        codec_trained=_trained(src) if src is not None else None,
        **rate_choice(src.encoded if src is not None else None, codec),
        channel_uses=spent,
        channel_uses_first=int(rx.channel_uses_first) if rx is not None else 0,
        cbr=spent / (3 * h * w),
        slots=int(rx.slots) if rx is not None else 0,
        transmitted_bits=int(rx.bits) if rx is not None else 0,
        bit_errors=(None if rx.bit_errors is None else int(rx.bit_errors)) if rx is not None else 0,
        ber=float(rx.ber) if rx is not None else float("nan"),
        blocks=int(rx.blocks) if rx is not None else 0,
        block_errors=int(rx.block_errors) if rx is not None else 0,
        bler=float(rx.bler) if rx is not None else float("nan"),
        transmissions=int(rx.transmissions) if rx is not None else 0,
        mean_transmissions=float(rx.mean_transmissions) if rx is not None else float("nan"),
        received_identical=(rx.payload == src.encoded.data) if rx is not None else None,
        rx_payload_sha=hashlib.sha256(rx.payload).hexdigest()[:16] if rx is not None else None,
        decode_status=received.status,
        decode_ok=received.status == "ok",
        decode_reason=received.reason or None,
        failure_policy=cfg.failure_policy,
        policy_applied=received.policy_applied,
        crc_error=cfg.crc_error,
        decode_cache_hit=hit,
        **seg_cols,
    )


def _finish(ctx, p: Point, row: Row, values: dict, reasons: dict, src, d, t_met: float) -> dict:
    """The row as a dict: the fixed columns, then every metric and its reason (None when computed), the
    times, the provenance, ``image_file`` and the axis columns that are not fields."""
    cfg = ctx.config
    out = asdict(row)
    for name in cfg.metrics:
        column = metric_column(name)
        out[column] = values[name]
        out[f"{column}_reason"] = reasons.get(name) or None
    out.update(
        t_encode_s=src.seconds if src is not None else 0.0,
        t_transmit_s=d.times.get("transmit_s", 0.0) if d is not None else 0.0,
        t_decode_s=d.times.get("decode_s", 0.0) if d is not None else 0.0,
        t_metrics_s=t_met,
    )
    out.update(ctx.provenance)
    out["image_file"] = None
    return out


def _axis_columns(cfg: SweepConfig, p: Point, out: dict) -> None:
    for a in AXES:  # an axis that is not a Row field still gets its column
        out.setdefault(a.column, a.cell(cfg, p.coords[a.name]))


def _capacity_columns(cfg: SweepConfig, p: Point, image, mean_rgb, phy, rx) -> dict:
    """The row's capacity-bound columns; null with status ``encode_error`` where they cannot be computed
    (e.g. BPG refuses the image's shape)."""
    try:
        if phy is None:
            raise ValueError("the point's PHY could not be built")
        budget = cfg.budgets[p.budget].to_budget()
        uses = budget.channel_uses(image.shape[0], image.shape[1], phy)
        return _capacity_reference(cfg, p, image, mean_rgb, uses, phy.channel.model, rx)
    except Exception:  # the reference is not the row: leave it null, say so
        cols = [c for c in reference.reference_columns(cfg.metrics) if c.startswith(reference.CAPACITY)]
        return {**_nulls(cols), "ref_capacity_status": "encode_error", "ref_capacity_stream_bits": 0}


def error_row(ctx, p: Point, image, codec, src, status: str, reason: str, max_bits: int) -> dict:
    """The row of a point where a step raised: ``decode_status`` = ``status`` (one of
    :data:`ERROR_STATUSES`), ``decode_reason`` = ``reason`` (one line), null metrics. codec, src: what
    exists of the task (None where building the codec or encoding raised)."""
    cfg = ctx.config
    try:
        _, phy = _point_phy(cfg, p)
    except Exception:  # the PHY of this point cannot be built: its columns stay empty
        phy = None
    received = Received(None, status, reason, False)
    row = _row(ctx, p, image, codec, src, phy, None, received, False, max_bits)
    why = f"not computed ({status})"
    out = _finish(ctx, p, row, _nulls(cfg.metrics), dict.fromkeys(cfg.metrics, why), src, None, 0.0)
    _axis_columns(cfg, p, out)
    if cfg.references:
        out.update(_capacity_columns(cfg, p, image, np.asarray(ctx.mean_rgb), phy, None))
    return out


def run_point(ctx, p: Point, image, codec, src, cache, mean_rgb, segments, metric_memo, decode=None) -> dict:
    """One row: transmit ``src`` (the task's encoding) at point ``p``, decode, score.

    decode: the task's :class:`GuardedDecode` (a decoder that raises gives a ``decode_error`` row); the
    PHY or the transmission raising (or the codec's segment handling) gives a ``link_error`` row.
    """
    cfg = ctx.config
    if decode is None:
        decode = GuardedDecode(cache.decode if cache is not None else codec.decode)
    decode.error = None
    try:
        budget, phy = _point_phy(cfg, p)
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
            decode=decode,
            protection=protection_of(cfg, p),
            harq_max_tx=int(p.coords.get("harq_max_tx", 1)),
        )
    except Exception as exc:  # this point's link raised: its row says so, the sweep goes on
        return error_row(ctx, p, image, codec, src, "link_error", f"transmit: {_one_line(exc)}", src.max_bits)
    rx, received = d.reception, d.received
    if decode.error is not None:  # the decoder raised: an error, not a measurement (no failure policy)
        received = Received(None, "decode_error", f"decode: {decode.error}", False)
    hit = bool(rx is not None and cache is not None and cache.last_hit and received.decoded is not None)
    t0 = time.perf_counter()
    if received.status in ERROR_STATUSES:
        why = f"not computed ({received.status})"
        values, reasons = _nulls(cfg.metrics), dict.fromkeys(cfg.metrics, why)
    else:
        values, reasons = _scored(image, received.image, list(cfg.metrics), metric_memo)
    t_met = time.perf_counter() - t0
    row = _row(ctx, p, image, codec, src, phy, d, received, hit, src.max_bits)
    out = _finish(ctx, p, row, values, reasons, src, d, t_met)
    # The saved picture's path is stored in the row (relative to the sweep folder), so the image grid finds
    # it whatever label the figures later give the codec (e.g. "(untrained)").
    if p.trial == 0 and p.image in ctx.saved_images and received.image is not None:
        snrs = cfg.save_images.snr_db
        if snrs is None or any(abs(s - p.snr_db) < 1e-9 for s in snrs):
            path = store.decoded_image_path(
                ctx.out_dir, row.codec, row.channel, budget.label, p.image, p.snr_db
            )
            store.save_png(path, received.image)
            out["image_file"] = path.relative_to(ctx.out_dir).as_posix()
    _axis_columns(cfg, p, out)
    if cfg.references:
        out.update(_capacity_columns(cfg, p, image, mean_rgb, phy, rx))
    return out
