#!/bin/bash
# Issue 15's GPU measurements in one go (README "Measured on an NVIDIA H200"): the GPU tests,
# the model-only runner at 1080p (NHWC + split GroupNorm, and the --plain NCHW ablation), the
# encoder alone, end to end against pass-through at three x264 presets, and the encoder's
# cost of the U-Net's picture against the original's (tools/bench_encode.py).
#   bash tools/measure_gpu.sh [OUT_DIR]        (about 6 minutes on an H200 with 16 cores, before the last step was added)
set -u
out=${1:-bench_out/gpu}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc; } | tee "$out/env.txt"
$py -m pytest -m gpu -p no:cacheprovider -q -rs tests 2>&1 | tee "$out/gpu_tests.txt" | tail -8
gpu="$py tools/bench_gpu.py --sizes 1920x1080 --iterations 100 --graphs"
$gpu --torch unet_gn zero_dce zero_dce_pp --precision fp16 --batch 1 4 8 \
    --encoder ultrafast superfast veryfast --json "$out/gpu_fp16.json" | tee "$out/bench_gpu.txt"
$gpu --torch unet_gn --precision bf16 fp32 --batch 4 --json "$out/gpu_unet_other.json" \
    | tee -a "$out/bench_gpu.txt"
$gpu --torch lowres_guided --precision fp32 --batch 1 4 --json "$out/gpu_lowres.json" \
    | tee -a "$out/bench_gpu.txt"
$gpu --torch unet_gn zero_dce --precision fp16 --batch 4 --plain --json "$out/gpu_plain.json" \
    | tee -a "$out/bench_gpu.txt"
for preset in veryfast superfast ultrafast; do
  $py tools/bench.py --sizes 1920x1080 --seconds 10 --repeat 2 --preset "$preset" \
      --json "$out/e2e_$preset.json" --enhancers \
      unet_gn,device=cuda,precision=fp16,graphs=true \
      unet_gn,device=cuda,precision=fp16,graphs=true,batch_size=4 \
      zero_dce_pp,device=cuda,precision=fp16 | tee -a "$out/bench_e2e.txt"
done
# x264's own cost of the U-Net's picture on this machine's cores: the most the end-to-end
# rows above can reach against pass-through, however fast the model
$py tools/bench_encode.py --size 1920x1080 --seconds 10 --frames 300 \
    --enhancers unet_gn,device=cuda,precision=fp16 | tee "$out/bench_encode.txt"
