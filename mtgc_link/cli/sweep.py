"""`mtgc-link sweep | plot | demo`: grids of end-to-end runs, their figures, and the one-command demo.

Exit codes: 0 done; 2 bad config or arguments (the message names the path of each bad value).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mtgc_link.cli.app import app


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _report(res) -> None:
    typer.echo(
        f"{res.points} rows ({res.ran} run now, {res.skipped} already done) in {res.seconds:.0f} s\n"
        f"results: {res.out_dir / 'results.parquet'} and {res.out_dir / 'results.csv'}"
        + (f"\nfigures: {res.out_dir / 'figures'} ({len(res.figures)} files)" if res.figures else "")
    )


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="Sweep config (YAML); see experiments/configs/."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default results/<name>)."),
    executor: str = typer.Option("local", "--executor", help="local | ray."),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel workers (processes or Ray CPUs)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard results already in --out."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write figures at the end."),
) -> None:
    """Run (or resume) a sweep: one row per (codec, channel, SNR, budget, MCS, image, trial)."""
    from mtgc_link.sweep.config import ConfigError, load_config
    from mtgc_link.sweep.executors import EXECUTORS
    from mtgc_link.sweep.runner import run_sweep

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail(2, str(exc)) from None
    if executor not in EXECUTORS:
        raise _fail(2, f"--executor must be one of {', '.join(EXECUTORS.names())}, got {executor!r}")
    if workers < 1:
        raise _fail(2, f"--workers must be >= 1, got {workers}")
    out = out or Path("results") / cfg.name
    try:
        res = run_sweep(cfg, out, executor=executor, workers=workers, overwrite=overwrite, plots=False)
    except ValueError as exc:  # e.g. --out holds another config's results; images not found
        raise _fail(2, str(exc)) from None
    if plots:
        from mtgc_link.plots import plot_results

        res.figures = plot_results(res.out_dir)
    _report(res)


@app.command()
def plot(out: Path = typer.Argument(..., help="A sweep's output folder.")) -> None:
    """(Re)draw the figures of a sweep into OUT/figures (PNG and PDF)."""
    from mtgc_link.plots import plot_results

    try:
        files = plot_results(out)
    except FileNotFoundError as exc:
        raise _fail(2, str(exc)) from None
    typer.echo(f"{len(files)} files in {out / 'figures'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("results/demo"), "--out", "-o", help="Output folder."),
    workers: int = typer.Option(2, "--workers", "-j", help="Parallel worker processes."),
) -> None:
    """A small sweep on scikit-image's photos: JPEG and BPG over AWGN and TDL-A, results and figures."""
    from mtgc_link.sweep.demo import demo_config, mtgc_status, summary_table
    from mtgc_link.sweep.runner import run_sweep

    profile, why = mtgc_status()
    cfg = demo_config(profile)
    typer.echo(f"MTGC: included (profile {profile})" if profile else f"MTGC: {why}")
    res = run_sweep(cfg, out, workers=workers, overwrite=True, plots=False)
    from mtgc_link.plots import plot_results

    res.figures = plot_results(res.out_dir)
    typer.echo(summary_table(res.table))
    _report(res)
