"""`mtgc-link sweep | plot | demo`: grids of end-to-end runs, their figures, and the one-command demo.

Exit codes: 0 done (or a dry run); 2 bad config or arguments, an unusable --out, or an --out holding rows of
a config with another meaning (the message names the changed field); 130 interrupted (Ctrl-C), after the
table of the finished rows was written.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mtgc_link.cli.app import app


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _report(res) -> None:
    lines = [f"{res.points} rows ({res.ran} run now, {res.skipped} already done) in {res.seconds:.0f} s"]
    if res.errors:
        counts = ", ".join(f"{n} {status}" for status, n in res.errors.items())
        lines.append(f"rows with errors: {counts} (the step and exception are in decode_reason)")
    if res.outside:
        lines.append(
            f"{res.outside} rows of points this config does not have are kept in rows/ (not in the table)"
        )
    lines.append(f"results: {res.out_dir / 'results.parquet'} and {res.out_dir / 'results.csv'}")
    if res.figures:
        lines.append(f"figures: {res.out_dir / 'figures'} ({len(res.figures)} files)")
    typer.echo("\n".join(lines))


def _interrupted(out: Path) -> typer.Exit:
    return _fail(
        130,
        f"interrupted: the finished rows are in {out / 'results.parquet'}; rerun the same command to resume "
        f"(`mtgc-link plot {out}` draws their figures)",
    )


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="Sweep config (YAML); see experiments/configs/."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default results/<name>)."),
    executor: str = typer.Option("local", "--executor", help="local | ray."),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel workers (processes or Ray CPUs)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard results already in --out."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write figures at the end."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print the rows, encodes, transmissions, rows already done in --out and a time estimate "
        "(from timing a few rows in a temporary folder); write nothing.",
    ),
) -> None:
    """Run, resume or extend a sweep: one row per (codec, channel, SNR, budget, MCS, image, trial).

    Rerunning into the same --out skips the rows already there; a config with more SNRs, budgets, trials,
    images, codecs or channels runs only the new points (docs/experiments.md, "Resume and extend").
    """
    from mtgc_link.sweep.config import ConfigError, load_config
    from mtgc_link.sweep.demo import summary_table
    from mtgc_link.sweep.executors import EXECUTORS
    from mtgc_link.sweep.runner import dry_run as plan_sweep
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
    if dry_run:
        try:
            plan = plan_sweep(cfg, out, workers=workers, overwrite=overwrite)
        except ValueError as exc:  # --out unusable or holding another config's rows; images not found
            raise _fail(2, str(exc)) from None
        typer.echo(plan.describe())
        return
    try:
        res = run_sweep(cfg, out, executor=executor, workers=workers, overwrite=overwrite, plots=plots)
    except ValueError as exc:  # e.g. --out holds another config's results; images not found
        raise _fail(2, str(exc)) from None
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    table = summary_table(res.table)
    if table:
        typer.echo(table)
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
    try:
        res = run_sweep(cfg, out, workers=workers, overwrite=True, plots=True)
    except ValueError as exc:  # --out unusable
        raise _fail(2, str(exc)) from None
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    typer.echo(summary_table(res.table))
    _report(res)
