"""Run a sweep: config -> grid -> executor -> row shards -> results table (-> figures).

``run_sweep`` is the entry point (``mtgc-link sweep`` calls it); ``dry_run`` counts and times a sweep
without running it (``mtgc-link sweep --dry-run``). One task (the points that share one encoding) runs in
:mod:`mtgc_link.sweep.task`, which the executors ship to their workers. Import rule:
runner -> executors -> task -> link/store/grid/config; nothing below imports the runner, and only
``run_sweep(plots=True)`` reaches the plotting layer (which itself reads the store and the axes only).

Extending a sweep. Rows are identified by their point key, so a config may grow between runs into the same
folder: the fields the axes read (``Axis.config_field``: codecs, channels, snr_db, budgets, images.limit,
trials, protection, harq_max_tx) may gain (or lose) values, and only the new points run. Everything else
that shapes a row (its "meaning": PHY, MCS policy, seed, failure policy, CRC handling, metrics, images
source / resize / captions, UEP MCSs, references) must stay as it was, and so must the entries behind an
existing codec or channel label and the position of an existing budget (it enters the channel seeds); the
image set's mean colour too under ``failure_policy: mean``. Otherwise :func:`check_extension` refuses, naming
the field. :data:`FREE_FIELDS` change nothing in a row and may change freely. The table holds the rows of
the current config's points (renumbered in its grid); rows of points it no longer has stay in ``rows/``.

Unreadable images. Every image file is read before the first row (:func:`_image_set`). Under
``images.on_error: rows`` (the default) the unreadable ones are named in one warning line on stderr, their
points (their keys and seeds need no image) get ``image_error`` rows written here, without a task, and the
rest runs; ``refuse`` stops before any work, naming them. The mean colour is the readable images'. A folder
with ``image_error`` rows of an image that can be read now is refused (:func:`check_unreadable`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from channels import ChannelConfig, PhyConfig
from mtgc_link.demo_images import ImageSetError, image_files
from mtgc_link.images import ImageError
from mtgc_link.link import fallback_image, mean_colour
from mtgc_link.sweep import reference, store
from mtgc_link.sweep.axes import AXES, loop_axes
from mtgc_link.sweep.config import ConfigError, ImagesConfig, SweepConfig, parse_config
from mtgc_link.sweep.executors import get_executor
from mtgc_link.sweep.grid import Point, Task, expand
from mtgc_link.sweep.mcs_policy import select_mcs, threshold_table
from mtgc_link.sweep.task import SweepContext, captions_of, error_row, images_of, run_task

__all__ = [
    "FREE_FIELDS",
    "Prepared",
    "SweepContext",
    "SweepPlan",
    "SweepResult",
    "check_extension",
    "check_unreadable",
    "dry_run",
    "image_error_row",
    "prepare",
    "prepare_sweep",
    "run_sweep",
    "run_task",
]


@dataclass
class SweepResult:
    """points: rows of the config; skipped: already in the folder; ran: computed now. outside: rows in the
    folder of points this config does not have (kept in rows/, not in the table). errors: {status: rows} of
    the table's rows with an error status (``rows.ERROR_STATUSES``). unreadable: {image name: why} of the
    image files that could not be read (their rows: ``image_error``)."""

    out_dir: Path
    table: object  # pandas.DataFrame
    points: int
    skipped: int
    ran: int
    seconds: float
    figures: list[Path] = field(default_factory=list)
    outside: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- driver
def _mcs_policy(cfg: SweepConfig, cache_dir):
    if cfg.mcs.fixed is not None:
        return lambda ch, snr: cfg.mcs.fixed
    tables = [threshold_table(cfg.phy, ch, cfg.mcs.adaptive, cache_dir) for ch in cfg.channels]
    return lambda ch, snr: select_mcs(tables[ch], snr)


def _payload_bits_fn(cfg: SweepConfig):
    @cache
    def base(mcs: int):
        return PhyConfig(channel=ChannelConfig(), mcs_index=mcs, **cfg.phy.model_dump())

    def bits(bi: int, mcs: int, h: int, w: int) -> int:  # payload bits do not depend on the channel
        return cfg.budgets[bi].to_budget().payload_bits(h, w, base(mcs))

    return bits


@dataclass
class Prepared:
    """What :func:`prepare_sweep` returns. ctx: the workers' context; points: every row's point; tasks: the
    points that run (every point but those of unreadable images); unreadable: {image name: ImageError};
    names: every image name of the set, readable or not, in name order."""

    ctx: SweepContext
    points: list[Point]
    tasks: list[Task]
    unreadable: dict[str, ImageError]
    names: list[str]


def _image_set(spec: ImagesConfig) -> tuple[ImagesConfig, dict[str, np.ndarray], dict[str, ImageError]]:
    """(the image spec the workers read, the readable images, {name: ImageError} of the unreadable files).

    Every selected file is read here, before any row. Unreadable files under ``images.on_error: refuse``, or
    a set without one readable image: the ``ImageSetError`` naming each file. Under ``rows`` (the default)
    they are named in one warning line on stderr, and the workers get a spec whose ``source`` is the
    readable files as (name, file) pairs (``demo_images.image_files``), so that they read exactly the files
    checked here, under the same names; the runner writes the unreadable images' rows itself.
    """
    try:
        return spec, images_of(spec), {}  # cached: a worker in this process reads nothing again
    except ImageSetError as exc:
        files = image_files(spec.source, spec.limit)
        if spec.on_error == "refuse" or len(exc.errors) == len(files):
            raise
        unreadable = exc.unreadable
        print(
            f"warning: images.source {spec.source!r}: {exc.reason}; their rows get decode_status "
            "image_error (images.on_error: refuse stops instead)",
            file=sys.stderr,
            flush=True,
        )
    readable = tuple((n, str(f.absolute())) for n, f in files.items() if n not in unreadable)
    workers = spec.model_copy(update={"source": readable, "limit": None})
    return workers, images_of(workers), unreadable


def prepare(
    cfg: SweepConfig, out_dir: str | Path, mcs_cache_dir=None
) -> tuple[SweepContext, list[Point], list[Task]]:
    """Load the images, resolve the MCS policy, expand the grid and build the worker context
    (:func:`prepare_sweep` without the unreadable images and the names)."""
    prep = prepare_sweep(cfg, out_dir, mcs_cache_dir)
    return prep.ctx, prep.points, prep.tasks


def prepare_sweep(cfg: SweepConfig, out_dir: str | Path, mcs_cache_dir=None) -> Prepared:
    """Read the image set (:func:`_image_set`: unreadable files reported here, before any row), resolve the
    MCS policy, expand the grid and build the worker context. The mean colour (``failure_policy: mean``)
    is that of the readable images."""
    from mtgc_link import __version__
    from mtgc_link.provenance import git_commit, versions

    images_of.cache_clear()  # read the image set afresh on every run: files may have been added since
    captions_of.cache_clear()
    spec, images, unreadable = _image_set(cfg.images)
    captions_of(spec)  # a bad captions file fails here, before any row
    names = sorted({*images, *unreadable})
    shapes = {n: images[n].shape if n in images else None for n in names}
    mcs_for = _mcs_policy(cfg, mcs_cache_dir)
    points, tasks = expand(cfg, shapes, mcs_for, _payload_bits_fn(cfg))
    prov = {
        "config_hash": cfg.config_hash(),
        "git_commit": git_commit(),
        "mtgc_link_version": __version__,
        "versions": json.dumps(versions(), sort_keys=True),
    }
    ctx = SweepContext(
        cfg if spec is cfg.images else cfg.model_copy(update={"images": spec}),
        str(out_dir),
        cfg.config_hash(),
        mean_colour(images.values()).tolist(),
        prov,
        sorted(images)[: cfg.save_images.max_images],
    )
    return Prepared(ctx, points, tasks, unreadable, names)


# -------------------------------------------------------------------------------- extending a folder
#: Config fields that change no value of a row (the run's name, which decoded pictures are saved, the decode
#: cache, whether unreadable images stop the sweep): free to change between runs into one folder. They apply
#: to the rows computed from then on.
FREE_FIELDS = ("name", "save_images", "decode_cache", "images.on_error")


def extendable_fields() -> tuple[str, ...]:
    """The config fields a sweep may extend along: those the axes read (``Axis.config_field``)."""
    return tuple(a.config_field for a in AXES if a.config_field is not None)


def _full(value: Any) -> Any:
    """Every field of a (nested) config model, defaults included, as plain values (unlike ``model_dump``,
    which leaves out some defaults to keep config hashes stable)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return {name: _full(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [_full(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _full(v) for k, v in value.items()}
    return value


def _drop(data: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for k in parents:
        data = data.get(k)
        if not isinstance(data, dict):
            return
    data.pop(last, None)


def _get(obj: Any, dotted: str) -> Any:
    for k in dotted.split("."):
        obj = getattr(obj, k)
    return obj


def meaning(data: dict) -> dict:
    """A config's full dump without the extendable axis fields and :data:`FREE_FIELDS`: what must not
    change between runs into one folder."""
    data = json.loads(json.dumps(data))
    for name in (*extendable_fields(), *FREE_FIELDS):
        _drop(data, name)
    return data


def _show(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    """'path changed from X to Y' for every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in new:
                out.append(f"{sub} removed (was {_show(old[k])})")
            elif k not in old:
                out.append(f"{sub} added ({_show(new[k])})")
            else:
                out += _diff(old[k], new[k], sub)
        return out
    return [] if old == new else [f"{path} changed from {_show(old)} to {_show(new)}"]


def _entry(item: Any) -> Any:
    """What an axis entry means: a codec's or channel's fields without its label; a value as it is."""
    full = _full(item)
    if isinstance(full, dict):
        full.pop("label", None)
    return full


def _entry_conflicts(old: SweepConfig, new: SweepConfig) -> list[str]:
    """Entries present in both configs (same key part, e.g. the codec label) whose meaning differs, or whose
    seed part moved (a budget's position enters the channel seeds)."""
    out = []
    for a in AXES:
        if a.config_field is None or a.values is None:
            continue
        old_list, new_list = _get(old, a.config_field), _get(new, a.config_field)
        if not isinstance(old_list, list):  # a count or a limit (trials, images.limit): any value extends
            continue
        old_vals, new_vals = list(a.values(old, ())), list(a.values(new, ()))
        new_by_key = {a.key(new, v): (j, v) for j, v in enumerate(new_vals)}
        for i, v in enumerate(old_vals):
            k = a.key(old, v)
            if k not in new_by_key:
                continue
            j, w = new_by_key[k]
            label = a.cell(old, v)
            before, after = _entry(old_list[i]), _entry(new_list[j])
            if before != after:
                changes = "; ".join(_diff(before, after)) or f"changed from {_show(before)} to {_show(after)}"
                out.append(f"{a.config_field} {label!r}: {changes.lstrip('.')}")
            elif a.seed is not None and a.seed(old, v) != a.seed(new, w):
                out.append(
                    f"{a.config_field} {label!r} moved from position {i} to {j} (its position enters the "
                    "rows' channel seeds; add new entries at the end)"
                )
    return out


def _refuse(out: Path, changes: list[str]) -> ValueError:
    return ValueError(
        f"{out} holds results of another config: {'; '.join(changes)}; the rows already computed would "
        "mean something else: choose another --out, or --overwrite to start again"
    )


def check_extension(manifest: dict | None, cfg: SweepConfig, out_dir: str | Path) -> None:
    """Refuse (ValueError, one line naming each changed field) a config whose rows would not mean what the
    rows already in the folder mean; see the module docstring. ``manifest``: the folder's (None: new).

    A manifest written before sweeps could be extended holds only ``config_hash``: then the config must be
    the very same (same hash), as before.
    """
    if manifest is None:
        return
    out = Path(out_dir)
    if "config" not in manifest:
        if manifest.get("config_hash") != cfg.config_hash():
            raise ValueError(
                f"{out} holds results of another config (hash {manifest.get('config_hash')}, this one "
                f"{cfg.config_hash()}; its manifest predates extensible sweeps, so only the same config "
                "resumes): choose another --out, or --overwrite to start again"
            )
        return
    stored = [h["config"] for h in manifest.get("history") or [] if isinstance(h, dict) and "config" in h]
    stored = stored or [manifest["config"]]
    new_full = _full(cfg)
    for data in stored:
        try:
            old = parse_config(data, "manifest.json")
        except ConfigError as exc:
            if data == cfg.model_dump(mode="json"):
                continue
            why = str(exc).splitlines()[-1].strip()
            raise ValueError(
                f"{out}: the config in its manifest.json no longer loads ({why}); choose another --out, "
                "or --overwrite to start again"
            ) from None
        changes = _diff(meaning(_full(old)), meaning(new_full)) + _entry_conflicts(old, cfg)
        if changes:
            raise _refuse(out, list(dict.fromkeys(changes)))


def _fallback_rgb(mean_rgb) -> list[int]:
    """The failure policy 'mean' picture's colour (what the rows see of the image set's mean)."""
    return fallback_image("mean", (1, 1, 3), mean_rgb).reshape(3).tolist()


def check_images(manifest: dict | None, cfg: SweepConfig, ctx: SweepContext, out_dir: str | Path) -> None:
    """Under ``failure_policy: mean`` the failure picture is the image set's mean colour: an extension that
    changes the images must not change it (the rows already computed would differ from a fresh run)."""
    if manifest is None or cfg.failure_policy != "mean" or "mean_rgb" not in manifest:
        return
    before, now = _fallback_rgb(manifest["mean_rgb"]), _fallback_rgb(ctx.mean_rgb)
    if before != now:
        raise _refuse(
            Path(out_dir),
            [
                f"the image set's mean colour (the failure_policy 'mean' picture) changed from {before} to "
                f"{now} with the images"
            ],
        )


def check_unreadable(rows: list[dict], prep: Prepared, out_dir: str | Path) -> None:
    """Refuse (ValueError, one line) a folder holding ``image_error`` rows of images that can be read now:
    a key is kept once, so those rows would keep their error instead of being computed."""
    failed = {r.get("key") for r in rows if r.get("decode_status") == "image_error"}
    fixed = sorted({p.image for p in prep.points if p.key in failed and p.image not in prep.unreadable})
    if fixed:
        raise ValueError(
            f"{Path(out_dir)} holds image_error rows of image{'s' if len(fixed) > 1 else ''} "
            f"{', '.join(map(repr, fixed))}, which can be read now; those rows would keep the error: "
            "choose another --out, or --overwrite to start again"
        )


def updated_manifest(manifest: dict | None, cfg: SweepConfig, ctx: SweepContext) -> dict:
    """The folder's manifest after this run: the first run's provenance at the top (as always), the latest
    config (``config``), the image set's mean colour, and ``history``: every distinct config the folder's
    rows were computed under, first run first, with when and by which commit."""
    dump = cfg.model_dump(mode="json")
    prov = ctx.provenance
    entry = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config_hash": cfg.config_hash(),
        "git_commit": prov.get("git_commit"),
        "mtgc_link_version": prov.get("mtgc_link_version"),
        "config": dump,
    }
    if manifest is None:
        data = {"name": cfg.name, "created": entry["created"], **prov, "history": [entry]}
    else:
        data = dict(manifest)
        history = [h for h in data.get("history") or [] if isinstance(h, dict)]
        if not history:  # a manifest from before extensible sweeps: same hash, so the same config
            keep = ("created", "config_hash", "git_commit", "mtgc_link_version")
            history = [{**{k: data.get(k) for k in keep}, "config": dump}]
        if history[-1].get("config") != dump:
            history.append(entry)
        data["history"] = history
    data["config"] = dump
    data["mean_rgb"] = [float(x) for x in ctx.mean_rgb]
    return data


# ----------------------------------------------------------------------------------------------- running
def _todo(tasks: list[Task], done: set[str]) -> list[Task]:
    todo = []
    for t in tasks:
        left = [p for p in t.points if p.key not in done]
        if left:
            todo.append(Task(t.image, t.codec, t.max_bits, left))
    return todo


#: Two (image, budget bits) an ``image_error`` row is built with (:func:`image_error_row`): the columns that
#: differ between them depend on the image's size (height, width, the budget's uses, bits and CBR, ...) and
#: are left null. Sides of unrelated primes, so that no rounding (whole slots, whole uses) makes a column
#: that depends on the size agree by chance; columns that agree (e.g. bpp and cbr: 0, nothing sent) are kept.
_PROBES = ((np.zeros((61, 83, 3), np.uint8), 0), (np.zeros((67, 97, 3), np.uint8), 1))


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)  # NaN == NaN


def image_error_row(ctx: SweepContext, p: Point, error: ImageError) -> dict:
    """The row of a point whose image file could not be read (no task runs it): ``decode_status``
    ``image_error``, ``decode_reason`` the ``ImageError`` on one line (it names the file), metrics null
    (``not computed (image_error)``), nothing sent; the columns that need the image's size null; the
    reference columns null with their statuses ``image_error``. Its columns are those of every other row,
    in the same order."""
    cfg = ctx.config
    bare = dataclasses.replace(ctx, config=cfg.model_copy(update={"references": False}))
    reason = " ".join(str(error).split())
    a, b = (error_row(bare, p, probe, None, None, "image_error", reason, bits) for probe, bits in _PROBES)
    row = {k: v if _same(v, b.get(k)) else None for k, v in a.items()}
    if cfg.references:
        cols = reference.reference_columns(cfg.metrics)
        try:  # "no bound known": the capacity columns of a normal row, in its order, NaN
            cap = reference.capacity_bound(_PROBES[0][0], None, cfg.metrics, policy=cfg.failure_policy)
        except Exception:  # the reference codec cannot be built here: its columns, null
            cap = dict.fromkeys(c for c in cols if c.startswith(reference.CAPACITY))
        row.update(dict.fromkeys(cap))
        row.update(dict.fromkeys(c for c in cols if not c.startswith(reference.CAPACITY)))
        row[reference.CAPACITY + "status"] = row[reference.ERROR_FREE + "status"] = "image_error"
    return row


def _write_image_errors(ctx: SweepContext, points: list[Point], unreadable: dict, advance) -> None:
    """Store the ``image_error`` row of each of ``points`` (their images could not be read)."""
    if not points:
        return
    writer = store.RowWriter(ctx.out_dir)
    try:
        for p in points:
            writer.append(image_error_row(ctx, p, unreadable[p.image]))
            advance(1)
    finally:
        writer.close()


def _error_counts(table) -> dict[str, int]:
    from mtgc_link.sweep.rows import ERROR_STATUSES

    if table is None or getattr(table, "empty", True) or "decode_status" not in table:
        return {}
    counts = table["decode_status"].value_counts()
    return {s: int(counts[s]) for s in ERROR_STATUSES if s in counts}


def _salvage(out: Path, order: dict[str, int], figures: bool, progress: bool) -> None:
    """After a worker raised or the user interrupted: write the table (and figures) of what finished, never
    masking the original exception."""
    try:
        table = store.compact(out, order)
    except Exception as exc:  # the original exception matters more
        print(f"sweep stopped; its table could not be written ({exc})", file=sys.stderr)
        return
    if progress:
        print(
            f"sweep stopped: the {len(table)} finished rows are in {out / 'results.parquet'}; "
            "rerun the same command to resume",
            file=sys.stderr,
        )
    if figures and not table.empty:
        try:
            from mtgc_link.plots import plot_results

            plot_results(out)
        except Exception as exc:  # the original exception matters more
            print(f"figures not drawn ({type(exc).__name__}: {exc})", file=sys.stderr)


def _clear(out: Path) -> None:
    for sub in ("rows", "images", "cache", "figures"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for f in ("manifest.json", "results.parquet", "results.csv", "config.yaml"):
        (out / f).unlink(missing_ok=True)


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
    """Run, resume or extend the sweep ``cfg`` into ``out_dir``; rows already there are skipped.

    Writes rows/ (crash-safe shards), results.parquet, results.csv and, with ``plots``, figures/. Before any
    work: ValueError (one line) for an output folder that is a file or not writable, or that holds rows of
    a config with another meaning (:func:`check_extension`); an ``ImageSetError`` naming the unreadable
    image files under ``images.on_error: refuse`` (under ``rows``, the default, one warning line on stderr
    names them and each of their points gets an ``image_error`` row). A point whose codec, decoder or link
    raises gets a row with an error status; if a worker still raises, or on Ctrl-C, the table (and, but for
    Ctrl-C, the figures) of the finished rows is written before the exception propagates.
    """
    import yaml
    from tqdm import tqdm

    t_start = time.perf_counter()
    runner = get_executor(executor, workers)  # a bad executor or worker count fails before any work
    out = store.check_output_dir(out_dir)
    manifest = None if overwrite else store.read_manifest(out)
    check_extension(manifest, cfg, out)
    prep = prepare_sweep(cfg, out, mcs_cache_dir)
    ctx, points, tasks = prep.ctx, prep.points, prep.tasks
    check_images(manifest, cfg, ctx, out)
    rows = [] if overwrite else store.read_rows(out)
    check_unreadable(rows, prep, out)
    if overwrite:  # only now: a config or image set that fails above leaves the folder as it was
        _clear(out)
    store.write_manifest(out, updated_manifest(manifest, cfg, ctx))
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    for name in ctx.saved_images:
        path = store.original_image_path(out, name)
        if not path.is_file():
            store.save_png(path, images_of(ctx.config.images)[name])
    order = {p.key: p.index for p in points}
    in_folder = {r["key"] for r in rows}
    done = in_folder & order.keys()
    todo = _todo(tasks, done)
    failed = [p for p in points if p.image in prep.unreadable and p.key not in done]  # image_error rows
    n_todo = sum(len(t.points) for t in todo) + len(failed)
    bar = tqdm(
        total=len(points),
        initial=len(points) - n_todo,
        desc=f"sweep {cfg.name}",
        unit="row",
        disable=not progress,
        file=sys.stderr,
    )
    try:
        _write_image_errors(ctx, failed, prep.unreadable, bar.update)
        runner.run(ctx, todo, bar.update)
    except BaseException as exc:
        bar.close()
        _salvage(out, order, plots and not isinstance(exc, KeyboardInterrupt), progress)
        raise
    bar.close()
    table = store.compact(out, order)
    figures = []
    if plots:
        from mtgc_link.plots import plot_results

        figures = plot_results(out)
    return SweepResult(
        out,
        table,
        len(points),
        len(points) - n_todo,
        n_todo,
        time.perf_counter() - t_start,
        figures,
        outside=len(in_folder - order.keys()),
        errors=_error_counts(table),
        unreadable={n: " ".join(str(e).split()) for n, e in prep.unreadable.items()},
    )


# ----------------------------------------------------------------------------------------------- dry run
@dataclass
class Estimate:
    """Time for the rows left, on one worker, from a short calibration (what was timed: ``measured``)."""

    seconds: float
    measured: str
    calibration_s: float


@dataclass
class SweepPlan:
    """What ``run_sweep`` would do (:func:`dry_run`). rows: rows of the config (one transmission each);
    encodes: distinct encodings (tasks); done: rows already in the folder; the ``todo_*``: what would run
    (``todo_rows`` counts the ``image_error`` rows to write); unreadable: the image names that could not be
    read, with how many of the rows to write are theirs (``unreadable_rows``)."""

    name: str
    out_dir: Path
    axes: dict[str, int]
    rows: int
    encodes: int
    done: int
    todo_rows: int
    todo_encodes: int
    outside: int
    workers: int
    estimate: Estimate | None
    unreadable: list[str] = field(default_factory=list)
    unreadable_rows: int = 0

    def describe(self) -> str:
        grid = " x ".join(f"{n} {name}" for name, n in self.axes.items())
        lines = [
            f"sweep {self.name}: {self.rows} rows = {grid}",
            f"  encodes (tasks): {self.encodes}, one per image, codec and payload size (budget x MCS)",
            f"  transmissions: {self.rows}, one per row; decodes: at most {self.rows} (the decode cache "
            "decodes identical receptions once, e.g. the trials above the cliff)",
        ]
        if self.done or self.outside:
            lines.append(
                f"  already in {self.out_dir}: {self.done} rows of this config"
                + (f" (+ {self.outside} of points it does not have, kept aside)" if self.outside else "")
            )
        lines.append(f"  to run: {self.todo_rows} rows, {self.todo_encodes} encodes")
        if self.unreadable:
            lines.append(
                f"  unreadable images ({', '.join(self.unreadable)}): {self.unreadable_rows} of those rows "
                "get decode_status image_error, with nothing to run"
            )
        if self.estimate is not None:
            e = self.estimate
            par = ""
            if self.workers > 1:
                par = (
                    f" (about {_duration(e.seconds / self.workers)} on {self.workers} workers, plus start-up)"
                )
            lines.append(f"  estimated time: {_duration(e.seconds)} on 1 worker{par}")
            lines.append(f"    from a {e.calibration_s:.0f} s calibration: {e.measured}")
        lines.append("dry run: nothing written")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _calibrate(ctx: SweepContext, todo: list[Task]) -> Estimate:
    """Time a few real rows of each (codec, channel) of ``todo`` in a temporary folder and extrapolate.

    Per (codec, channel), on one task of it: a warm-up row (imports, the decoder's sandbox, building the
    PHY: paid once per worker process), then a timed run of 2 rows (trial 0 at the task's lowest and highest
    SNR), decode cache off, one torch thread (as in every worker). From the times the rows are emitted:
    per task, its encode plus the task's references (the time to the first row, less one row); per row, the
    time of the second row, its transmission part scaled by the payload bits of each task's budget.
    """

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the executors' workers run
    try:
        return _calibrate_rows(ctx, todo)
    finally:
        torch.set_num_threads(threads)


def _calibrate_rows(ctx: SweepContext, todo: list[Task]) -> Estimate:
    import tempfile

    t_cal = time.perf_counter()
    cfg = ctx.config.model_copy(update={"decode_cache": False})
    pairs: dict[tuple[int, int], tuple[Task, list[Point]]] = {}
    for t in todo:
        for p in t.points:
            pairs.setdefault((t.codec, p.channel), (t, []))[1].append(p)
    per_task: dict[tuple[int, int], float] = {}  # encode + the task's references
    fixed: dict[tuple[int, int], float] = {}  # seconds per row besides transmission
    per_bit: dict[tuple[int, int], float] = {}  # transmission seconds per payload bit
    images, snrs = set(), set()
    with tempfile.TemporaryDirectory(prefix="mtgc-link-dry-run-") as tmp:
        cal = dataclasses.replace(ctx, config=cfg, out_dir=tmp, saved_images=[])
        for key, (task, pts) in pairs.items():
            first = [q for q in pts if q.trial == 0] or pts
            lo, hi = min(first, key=lambda q: q.snr_db), max(first, key=lambda q: q.snr_db)
            chosen = list(dict.fromkeys([lo, hi]))
            run_task(cal, Task(task.image, task.codec, task.max_bits, chosen[-1:]), lambda row: None)
            stamps: list[tuple[float, dict]] = []
            t0 = time.perf_counter()
            timed = Task(task.image, task.codec, task.max_bits, chosen)
            run_task(cal, timed, lambda row, got=stamps: got.append((time.perf_counter(), row)))
            row_s = stamps[-1][0] - stamps[-2][0] if len(stamps) > 1 else stamps[0][0] - t0
            tx = float(stamps[-1][1].get("t_transmit_s") or 0.0)
            bits = max(1, int(task.max_bits))
            per_task[key] = max(0.0, stamps[0][0] - t0 - row_s)
            per_bit[key] = tx / bits
            fixed[key] = max(0.0, row_s - tx)
            images.add(task.image)
            snrs.update(q.snr_db for q in chosen)
    total = 0.0
    for t in todo:
        keys = {(t.codec, p.channel) for p in t.points}
        total += max(per_task[k] for k in keys)
        for p in t.points:
            key = (t.codec, p.channel)
            total += fixed[key] + per_bit[key] * max(1, int(t.max_bits))
    at = " and ".join(f"{s:g}" for s in sorted(snrs))
    measured = (
        f"{len(pairs)} codec x channel pair(s), each 1 encode + rows at {at} dB (trial 0, image "
        f"{', '.join(sorted(images))}) after a warm-up row; decode cache off (an upper bound where trials "
        "share receptions); transmission time taken as proportional to each budget's payload bits; "
        "HARQ retransmissions, other images' sizes and worker start-up not modelled"
    )
    return Estimate(total, measured, time.perf_counter() - t_cal)


def dry_run(
    cfg: SweepConfig,
    out_dir: str | Path,
    workers: int = 1,
    overwrite: bool = False,
    calibrate: bool = True,
    mcs_cache_dir: str | Path | None = None,
) -> SweepPlan:
    """Count what ``run_sweep(cfg, out_dir, ...)`` would do, and estimate its time; write nothing in
    ``out_dir``. Raises the same ValueErrors as ``run_sweep`` would before any work (output folder, a folder
    of another config, unreadable images under ``images.on_error: refuse``; under ``rows`` they are named
    on stderr, as ``run_sweep`` does). With ``calibrate``, times a few real rows in a temporary folder
    (:func:`_calibrate`).
    """
    out = store.check_output_dir(out_dir, create=False)
    manifest = None if overwrite or not out.is_dir() else store.read_manifest(out)
    check_extension(manifest, cfg, out)
    prep = prepare_sweep(cfg, out, mcs_cache_dir)
    ctx, points, tasks, names = prep.ctx, prep.points, prep.tasks, prep.names
    check_images(manifest, cfg, ctx, out)
    rows = [] if overwrite or not out.is_dir() else store.read_rows(out)
    check_unreadable(rows, prep, out)
    order = {p.key: p.index for p in points}
    in_folder = {r["key"] for r in rows}
    todo = _todo(tasks, in_folder & order.keys())
    failed = [p for p in points if p.image in prep.unreadable and p.key not in in_folder]
    axes = {}  # the axes that appear in the keys (a transport axis at its default alone does not)
    for a in loop_axes():
        values = list(a.values(cfg, names))
        if any(a.key(cfg, v) is not None for v in values):
            axes[a.name] = len(values)
    est = _calibrate(ctx, todo) if calibrate and todo else None
    return SweepPlan(
        name=cfg.name,
        out_dir=out,
        axes=axes,
        rows=len(points),
        encodes=len(tasks),
        done=len(in_folder & order.keys()),
        todo_rows=sum(len(t.points) for t in todo) + len(failed),
        todo_encodes=len(todo),
        outside=len(in_folder - order.keys()),
        workers=workers,
        estimate=est,
        unreadable=list(prep.unreadable),
        unreadable_rows=len(failed),
    )
