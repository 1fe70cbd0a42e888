"""Run a sweep: config -> grid -> executor -> row shards -> results table (-> figures).

``run_sweep`` is the entry point (``mtgc-link sweep`` calls it). One task (the points that share one
encoding) runs in :mod:`mtgc_link.sweep.task`, which the executors ship to their workers. Import rule:
runner -> executors -> task -> link/store/grid/config; nothing below imports the runner, and only
``run_sweep(plots=True)`` reaches the plotting layer (which itself reads the store and the axes only).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from channels import ChannelConfig, PhyConfig
from mtgc_link.link import mean_colour
from mtgc_link.sweep import store
from mtgc_link.sweep.config import SweepConfig
from mtgc_link.sweep.executors import get_executor
from mtgc_link.sweep.grid import Point, Task, expand
from mtgc_link.sweep.mcs_policy import select_mcs, threshold_table
from mtgc_link.sweep.task import SweepContext, captions_of, images_of, run_task

__all__ = ["SweepContext", "SweepResult", "prepare", "run_sweep", "run_task"]


@dataclass
class SweepResult:
    out_dir: Path
    table: object  # pandas.DataFrame
    points: int
    skipped: int
    ran: int
    seconds: float
    figures: list[Path] = field(default_factory=list)


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


def prepare(
    cfg: SweepConfig, out_dir: str | Path, mcs_cache_dir=None
) -> tuple[SweepContext, list[Point], list[Task]]:
    """Load the images, resolve the MCS policy, expand the grid and build the worker context."""
    from mtgc_link import __version__
    from mtgc_link.provenance import git_commit, versions

    images = images_of(cfg.images)
    captions_of(cfg.images)  # a bad captions file fails here, before any row
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
        path = store.original_image_path(out, name)
        if not path.is_file():
            store.save_png(path, images_of(cfg.images)[name])
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
