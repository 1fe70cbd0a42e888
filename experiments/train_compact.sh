#!/usr/bin/env bash
# Reproduce the shipped `compact` MTGC from scratch: six `mtgc-link train` stages on BSDS500 train+test
# (validated on its val split), seed 0, then install the result as the package's compact profile.
# Resumable: rerun after a kill; finished stages are skipped, the running one resumes from its checkpoint.
# Measured on the 2-core CPU machine: see docs/mtgc-compact.md. Usage:
#   bash experiments/train_compact.sh [RUN_DIR]        (default runs/compact; needs ../shared/data/bsds500)
# Environment: BSDS (data folder), MTGC (the mtgc-link command), SCALE (multiplies every step count, e.g.
# SCALE=4 on a GPU), INSTALL=0 (train only, leave the package's weights alone).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/compact}
BSDS=${BSDS:-../shared/data/bsds500}
MTGC=${MTGC:-.venv/bin/mtgc-link}
SCALE=${SCALE:-1}
DIV=${DIV:-1}  # divides every step count (DIV=600: a smoke run of a few steps)
INSTALL=${INSTALL:-1}
COMMON=(--data "$BSDS/train" --data "$BSDS/test" --val-data "$BSDS/val" --captions "$BSDS/captions.json"
        --seed 0 --save-every 100 --log-every 10 --eval-every 100 --resume)

stage() {  # stage NAME FROM STEPS BATCH LR [extra args]
  local name=$1 from=$2 steps=$(( $3 * SCALE / DIV > 0 ? $3 * SCALE / DIV : 1 )) batch=$4 lr=$5; shift 5
  if [ -f "$RUN/$name/mtgc_config.json" ]; then echo "== $name: done"; return; fi
  echo "== $name: $steps steps, batch $batch, lr $lr (from $from)"
  "$MTGC" train --stage "$name" --profile "$from" --out "$RUN/$name" --steps "$steps" \
    --batch-size "$batch" --lr "$lr" --lr-schedule cosine "${COMMON[@]}" "$@"
}

stage vae        compact          3000 16 1e-3 --crop-size 64 --warmup-steps 50
stage clip       "$RUN/vae"        600 32 5e-4 --warmup-steps 50
stage unet       "$RUN/clip"      1300 16 4e-4 --warmup-steps 50
stage controlnet "$RUN/unet"      1000 16 5e-4 --warmup-steps 50
stage tascm      "$RUN/controlnet" 300 16 3e-4 --warmup-steps 30
stage joint      "$RUN/tascm"      400 16 2e-4

if [ "$INSTALL" = 1 ]; then
  dest=mtgc_link/codecs/mtgc/weights/compact
  rm -rf "$dest" && mkdir -p "$dest/logs"
  cp -r "$RUN/joint/." "$dest/" && rm -rf "$dest/checkpoint" "$dest/log.jsonl" "$dest/captions.json"
  for s in vae clip unet controlnet tascm joint; do cp "$RUN/$s/log.jsonl" "$dest/logs/$s.jsonl"; done
  echo "installed the compact profile in $dest"
fi
