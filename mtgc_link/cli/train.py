"""`mtgc-link train`: one stage of MTGC training (see mtgc_link/codecs/mtgc/train.py and docs/mtgc-model.md).

Multi-GPU: `accelerate launch --multi_gpu $(which mtgc-link) train ...` (the same code; accelerate runs
one process per GPU).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mtgc_link.cli.app import SEED_MAX, SEED_MIN, app, check_output_dir, number


@app.command()
def train(
    stage: str = typer.Option(
        ...,
        "--stage",
        help="vae | clip | unet (base parts, from scratch) | 1 or controlnet | 2 or tascm | 3 or joint",
    ),
    data: list[Path] = typer.Option(
        ..., "--data", help="folder of training images (searched recursively); repeat for several"
    ),
    val_data: Path | None = typer.Option(None, "--val-data", help="held-out folder; its loss is logged"),
    out: Path = typer.Option(..., "--out", help="output folder: profile, checkpoint/, log.jsonl"),
    profile: str = typer.Option(
        "tiny",
        "--profile",
        help="stage vae: the preset to start from (tiny, compact); else 'tiny', 'reference', 'compact' "
        "or the previous stage's --out",
    ),
    captions: Path | None = typer.Option(None, "--captions", help="JSON {image stem: caption}"),
    steps: int = typer.Option(1000, "--steps", min=1),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    lr: float = typer.Option(1e-5, "--lr", callback=number(0, lo_open=True), help="learning rate, > 0"),
    seed: int = typer.Option(0, "--seed", min=SEED_MIN, max=SEED_MAX, help="seed of the run, >= 0"),
    save_every: int = typer.Option(500, "--save-every", min=1),
    log_every: int = typer.Option(10, "--log-every", min=1),
    eval_every: int = typer.Option(100, "--eval-every", min=1),
    lr_schedule: str = typer.Option("constant", "--lr-schedule", help="constant | cosine (to lr/10)"),
    warmup_steps: int = typer.Option(0, "--warmup-steps", min=0),
    crop_size: int | None = typer.Option(None, "--crop-size", help="crop side (default: the profile's)"),
    resume: bool = typer.Option(False, "--resume", help="continue from OUT/checkpoint"),
    mixed_precision: str = typer.Option("no", "--mixed-precision", help="no | fp16 | bf16"),
    device: str | None = typer.Option(None, "--device", help="cpu to force the CPU"),
    rate_lambda: float | None = typer.Option(
        None, "--rate-lambda", callback=number(0), help="override the profile's lambda, >= 0"
    ),
) -> None:
    """Train one MTGC stage on an image folder; writes a loadable profile folder to --out."""
    from pydantic import ValidationError

    from mtgc_link.codecs.mtgc.profiles import ProfileUnavailable
    from mtgc_link.codecs.mtgc.train import TrainError, TrainSettings, run
    from mtgc_link.sweep.config import validation_lines

    try:
        settings = TrainSettings(
            stage=stage,
            data=data,
            out=out,
            profile=profile,
            captions=captions,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            save_every=save_every,
            log_every=log_every,
            eval_every=eval_every,
            lr_schedule=lr_schedule,
            warmup_steps=warmup_steps,
            crop_size=crop_size,
            val_data=val_data,
            resume=resume,
            mixed_precision=mixed_precision,
            device=device,
            rate_lambda=rate_lambda,
        )
    except ValidationError as exc:  # one line per bad value, naming the option
        names = {name: "--" + name.replace("_", "-") for name in TrainSettings.model_fields}
        for line in validation_lines(exc, names=names):
            typer.echo(line, err=True)
        raise typer.Exit(2) from None
    check_output_dir(out, "--out")
    try:
        last = run(settings)
    except (TrainError, ProfileUnavailable) as exc:
        typer.echo("error: " + " ".join(str(exc).split()), err=True)
        raise typer.Exit(2) from None
    typer.echo(" ".join(f"{k}={v:.6g}" for k, v in last.items()) + f"  -> {out}")
