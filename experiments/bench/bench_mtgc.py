"""Benchmark of the MTGC neural models (random weights: speed and size only, never quality).

1. tiny profile: SPW encode time, and decode time (SPW decode + MGDD generate) per image, at 256x256 and at
   the Kodak size 768x512, on --device (default cpu).
2. reference-SIZED architecture (SD 2.1-base UNet config, ControlNet from it, OpenCLIP ViT-H text tower,
   SD VAE, CLIP ViT-L/14 image tower, TASCM) built from configs with random weights, no download:
   parameter count per part and weight memory; with --device cuda also the time and peak GPU memory of a
   decode (generate) at 512x512 and 768x512 with the default step count, and of an SPW encode.

Usage: python experiments/bench/bench_mtgc.py [--device cuda] [--fp16] [--reps 3] [--json out.json]
Prints a JSON summary on the last line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mtgc_link.codecs.mtgc.config import MTGCConfig  # noqa: E402
from mtgc_link.codecs.mtgc.profiles import build_random, load_profile  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_s(fn, reps: int, device: torch.device) -> dict[str, float]:
    """Median wall time and process CPU time (all threads) of ``fn``; on a shared CPU the CPU time is
    the steadier figure, wall time is what a user waits."""
    fn()  # warm-up (kernels, caches, lazy imports)
    wall, cpu = [], []
    for _ in range(reps):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return dict(wall_s=round(statistics.median(wall), 4), cpu_s=round(statistics.median(cpu), 4))


def _test_image(h: int, w: int) -> np.ndarray:
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((w, h), Image.Resampling.BICUBIC))


def time_models(models, sizes, reps: int, steps: int | None) -> dict:
    """Encode (TASCM + quantize + range code) and decode (range decode + lift + MGDD) per image size."""
    k = models.config.default_spws
    out = {}
    for h, w in sizes:
        img = _test_image(h, w)
        hci = img[::16, ::16].copy()
        data = models.encode_spws(img, k)

        def decode(data=data, hci=hci, h=h, w=w):
            spws = models.decode_spws(data, k)
            models.generate(size=(h, w), seed=0, caption="an astronaut", spws=spws, hci=hci, steps=steps)

        out[f"{h}x{w}"] = dict(
            spw_bytes=len(data),
            encode=_median_s(lambda img=img: models.encode_spws(img, k), reps, models.device),
            decode=_median_s(decode, reps, models.device),
            steps=steps or models.config.default_steps,
        )
    return out


def reference_counts() -> dict:
    """Parameter counts of the reference-sized architecture, built on the meta device (no memory)."""
    from accelerate import init_empty_weights

    cfg = MTGCConfig.reference(base_model_id=None, vision_encoder_id=None)
    with init_empty_weights():
        models = build_random(cfg, device="meta")
    counts = models.parameter_counts()
    total = sum(counts.values())
    return dict(
        params=counts,
        params_total=total,
        weights_gib_fp32=round(total * 4 / 2**30, 2),
        weights_gib_fp16=round(total * 2 / 2**30, 2),
        decoder_params=sum(counts[n] for n in ("text_encoder", "vae", "unet", "controlnet", "tascm")),
    )


def reference_on_gpu(device: torch.device, fp16: bool, reps: int) -> dict:
    cfg = MTGCConfig.reference(
        base_model_id=None, vision_encoder_id=None, dtype="float16" if fp16 else "float32"
    )
    t0 = time.perf_counter()
    with torch.device(device):  # random init directly on the GPU
        models = build_random(cfg, device=device)
    build_s = time.perf_counter() - t0
    torch.cuda.reset_peak_memory_stats(device)
    res = time_models(models, [(512, 512), (512, 768)], reps, None)
    return dict(
        build_s=round(build_s, 1),
        dtype=str(models.dtype),
        weights_gib=round(torch.cuda.memory_allocated(device) / 2**30, 2),
        peak_gib=round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
        gpu=torch.cuda.get_device_name(device),
        timings=res,
    )


def reference_train_on_gpu(device: torch.device, stage: int, steps: int, batch: int, work: Path) -> dict:
    """Seconds per training step and peak memory of ``stage`` on the reference-sized architecture (bf16
    autocast, frozen parts in bf16), on synthetic data (scikit-image pictures), HCI = bicubic stand-in."""
    from PIL import Image
    from skimage import data as skdata

    from mtgc_link.codecs.mtgc.train import Trainer, TrainSettings, bicubic_hci

    folder = work / "train_data"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry"]
    for n in names:
        Image.fromarray(getattr(skdata, n)()).convert("RGB").resize((640, 640)).save(folder / f"{n}.png")
    (folder / "captions.json").write_text(json.dumps({n: f"a photo of {n.replace('_', ' ')}" for n in names}))
    cfg = MTGCConfig.reference(base_model_id=None, vision_encoder_id=None, dtype="bfloat16")
    with torch.device(device):
        models = build_random(cfg, device=device)
    settings = TrainSettings(
        stage=stage,
        data=folder,
        out=work / f"stage{stage}",
        captions=folder / "captions.json",
        steps=2,
        batch_size=batch,
        lr=1e-5,
        mixed_precision="bf16",
        log_every=1,
    )
    trainer = Trainer(settings, models=models, hci_fn=bicubic_hci, hci_settings=[(16, None)])
    trainer.train(save=False)  # warm-up steps
    torch.cuda.reset_peak_memory_stats(device)
    trainer.s.steps = 2 + steps
    _sync(device)
    t0 = time.perf_counter()
    last = trainer.train(save=False)
    _sync(device)
    return dict(
        stage=stage,
        batch=batch,
        train_size=cfg.train_size,
        s_per_step=round((time.perf_counter() - t0) / steps, 3),
        peak_gib=round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
        last=last,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    ap.add_argument("--fp16", action="store_true", help="half precision on the GPU")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--skip-reference", action="store_true", help="only the tiny profile")
    ap.add_argument("--skip-tiny", action="store_true", help="only the reference-sized architecture")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    ap.add_argument("--train-steps", type=int, default=0, help="GPU: also time N training steps per stage")
    ap.add_argument("--train-batch", type=int, default=4)
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda given but torch sees no GPU")

    summary: dict = dict(
        note="random weights: timings and sizes only",
        torch=torch.__version__,
        machine=platform.machine(),
        cpu_threads=torch.get_num_threads(),
        device=str(device),
    )
    if not args.skip_tiny:
        tiny = load_profile("tiny", device=device)
        summary["tiny"] = time_models(tiny, [(256, 256), (512, 768)], args.reps, None)
        print("tiny:", json.dumps(summary["tiny"]), flush=True)
    if not args.skip_reference:
        summary["reference_size"] = reference_counts()
        print("reference-sized parameters:", json.dumps(summary["reference_size"]), flush=True)
        if device.type == "cuda":
            summary["reference_gpu"] = reference_on_gpu(device, args.fp16, args.reps)
            print("reference-sized on GPU:", json.dumps(summary["reference_gpu"]), flush=True)
        if device.type == "cuda" and args.train_steps > 0:
            import tempfile

            with tempfile.TemporaryDirectory() as work:
                summary["reference_train"] = [
                    reference_train_on_gpu(device, stage, args.train_steps, args.train_batch, Path(work))
                    for stage in (1, 2, 3)
                ]
            print("reference-sized training:", json.dumps(summary["reference_train"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
